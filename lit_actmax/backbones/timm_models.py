"""``"timm:<name>"``: ``timm.create_model`` (the optional extra ``pip install 'lit_actmax[timm]'``).

``<name>`` may carry a pretrained tag (``resnet18.a1_in1k``). The preprocessing (mean, std, input size) comes from
timm's data config, the class names from timm's ImageNet metadata. ``weights="DEFAULT"`` (any value but ``None``)
loads the pretrained weights from the local Hugging Face or torch hub cache, never from the network;
``weights=None`` builds random weights.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ..errors import BackboneError
from ..image.ops import as_hw
from .backbone import Backbone
from .extras import import_library
from .imagenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_classes
from .input_size import detect_fixed_input_size
from .local_weights import (
    hf_cache_folder,
    hf_cached_file,
    random_weights_requested,
    torch_hub_checkpoints,
    url_filename,
)
from .preprocessing import Normalize
from .spelling import did_you_mean

__all__ = ["load_timm"]


def load_timm(name: str, weights: str | None = "DEFAULT") -> Backbone:
    """The timm model ``name``, pretrained from the local cache or random (``weights=None``)."""
    timm = import_library("timm", name)
    if not timm.is_model(name.split(".")[0]):
        raise BackboneError(f"timm has no model named {name!r}.{did_you_mean(name, timm.list_models())}")
    overlay: dict[str, Any] = {}
    pretrained = not random_weights_requested(weights)
    if pretrained:
        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is None:
            raise BackboneError(f"timm model {name!r} has no pretrained weights; pass weights=None for random weights.")
        path = _cached_weights(cfg)
        if path is None:
            raise BackboneError(_missing_weights(name, cfg))
        overlay = {"file": path}
    try:
        model = timm.create_model(name, pretrained=pretrained, pretrained_cfg_overlay=overlay or None)
    except (OSError, RuntimeError) as error:  # a damaged or foreign cached file
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise BackboneError(f"timm could not load the weights of {name!r} from {overlay.get('file')} ({first}); "
                            "remove the file or pass weights=None for random weights.") from None
    data = timm.data.resolve_model_data_config(model)
    input_hw = as_hw(data.get("input_size", (3, 224, 224)))
    class_names = _class_names(timm, model)
    return Backbone(
        model=model,
        preprocess=Normalize(tuple(data.get("mean", IMAGENET_MEAN)), tuple(data.get("std", IMAGENET_STD))),
        spec=f"timm:{name}",
        input_size=input_hw[0] if input_hw else 224,
        min_size=32,
        class_names=class_names,
        extra={"weights": "pretrained" if pretrained else None},
        fixed_input_size=detect_fixed_input_size(model),
    )


def _cached_weights(cfg: Any) -> str | None:
    file = getattr(cfg, "file", None)
    if file and os.path.isfile(file):
        return str(file)
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        found = hf_cached_file(hub_id, (getattr(cfg, "hf_hub_filename", None) or "model.safetensors",
                                        "model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"))
        if found:
            return found
    url = getattr(cfg, "url", None)
    if url:
        local = torch_hub_checkpoints() / url_filename(url)
        if local.is_file() and local.suffix != ".npz":
            return str(local)
    return None


def _missing_weights(name: str, cfg: Any) -> str:
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        where = f"the Hugging Face repo {hub_id} (model.safetensors) in {hf_cache_folder()}"
    else:
        url = getattr(cfg, "url", "") or ""
        where = f"the file {url_filename(url)} (from {url}) in {torch_hub_checkpoints()}"
    return (f"The pretrained weights of timm:{name} are not in the local cache: put {where} "
            "(download them once where there is network), or pass weights=None for random weights.")


def _class_names(timm: Any, model: nn.Module) -> list[str] | None:
    num_classes = getattr(model, "num_classes", None)
    try:
        subset = timm.data.infer_imagenet_subset(model)
        if subset:
            names = list(timm.data.ImageNetInfo(subset).label_descriptions())
            if len(names) == num_classes:
                return names
    except Exception:  # metadata differs between timm releases: class names are a nicety
        pass
    return imagenet_classes() if num_classes == 1000 else None
