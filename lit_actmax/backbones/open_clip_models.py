"""``"open_clip:<arch>"`` or ``"open_clip:<arch>:<tag>"``: the image tower of an open_clip model (the optional extra
``pip install 'lit_actmax[clip]'``).

The backbone is ``model.visual``, whose output is the image embedding, with the model's CLIP normalization. The tag
defaults to ``weights`` when that is not ``"DEFAULT"``, else to the architecture's first pretrained tag; weights come
from the local cache only; ``weights=None`` builds random weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BackboneError
from ..image.ops import as_hw
from .backbone import Backbone
from .extras import import_library, quiet_loggers
from .input_size import detect_fixed_input_size
from .local_weights import hf_cache_folder, hf_cached_file, random_weights_requested, url_filename
from .preprocessing import Normalize
from .spelling import did_you_mean

__all__ = ["load_open_clip"]


def load_open_clip(arch_tag: str, weights: str | None = "DEFAULT") -> Backbone:
    """The image tower of ``<arch>[:<tag>]``, pretrained from the local cache or random (``weights=None``)."""
    open_clip = import_library("open_clip", arch_tag)
    arch, _, tag = arch_tag.partition(":")
    if arch not in open_clip.list_models():
        raise BackboneError(f"open_clip has no architecture {arch!r}.{did_you_mean(arch, open_clip.list_models())}")
    pretrained: str | None = None
    if not random_weights_requested(weights):
        tags = list(open_clip.list_pretrained_tags_by_model(arch))
        tag = tag or (str(weights) if str(weights) != "DEFAULT" else (tags[0] if tags else ""))
        if tag not in tags:
            raise BackboneError(f"open_clip architecture {arch!r} has no pretrained tag {tag!r}: use one of {tags}, "
                                "or pass weights=None for random weights.")
        pretrained = _cached_weights(open_clip, arch, tag)
    with quiet_loggers("root", "open_clip"):
        model = open_clip.create_model(arch, pretrained=pretrained)
    visual = model.visual
    try:
        cfg = dict(open_clip.get_model_preprocess_cfg(model))
    except Exception:  # older open_clip
        cfg = {}
    mean = tuple(cfg.get("mean") or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(cfg.get("std") or open_clip.OPENAI_DATASET_STD)
    fixed = detect_fixed_input_size(visual) or as_hw(cfg.get("size") or getattr(visual, "image_size", None))
    return Backbone(
        model=visual,
        preprocess=Normalize(mean, std),
        spec=f"open_clip:{arch_tag}",
        input_size=fixed[0] if fixed else 224,
        min_size=32,
        class_names=None,
        extra={"weights": tag if pretrained else None},
        fixed_input_size=fixed,
    )


def _cached_weights(open_clip: Any, arch: str, tag: str) -> str:
    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    hub = cfg.get("hf_hub") or ""
    if hub:
        repo, _, filename = hub.strip("/").partition("/") if hub.count("/") > 1 else (hub.strip("/"), "", "")
        names = [filename] if filename else []
        found = hf_cached_file(repo, [*names, "open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
        if found:
            return found
    url = cfg.get("url") or ""
    folder = Path(os.path.expanduser("~")) / ".cache" / "clip"
    if url:
        local = folder / url_filename(url)
        if local.is_file():
            return str(local)
    where = (f"the Hugging Face repo {hub.strip('/')} in {hf_cache_folder()}" if hub
             else f"the file {os.path.basename(url)} (from {url}) in {folder}")
    raise BackboneError(f"The pretrained weights {tag!r} of open_clip:{arch} are not in the local cache: put {where}, "
                        "or pass weights=None for random weights.")
