"""Backbones from timm, open_clip and transformers, each an optional extra (``pip install 'lit_actmax[timm]'``).

- ``"timm:<name>"`` (``<name>`` may carry a pretrained tag, ``resnet18.a1_in1k``): ``timm.create_model``; the
  preprocessing (mean, std, input size) from timm's data config; class names from timm's ImageNet metadata.
  ``weights="DEFAULT"`` (any value but ``None``) loads the pretrained weights from the local Hugging Face or torch
  hub cache, never from the network; ``weights=None`` builds random weights.
- ``"open_clip:<arch>"`` or ``"open_clip:<arch>:<tag>"``: the image tower (``model.visual``, whose output is the
  image embedding) with the model's CLIP normalization. The tag defaults to ``weights`` when that is not
  ``"DEFAULT"``, else to the architecture's first pretrained tag; weights come from the local cache only;
  ``weights=None`` builds random weights.
- ``"transformers:<folder or cached name>"``: ``AutoModelForImageClassification`` (``AutoModel`` for checkpoints
  without a classification head) from a local folder or the local Hugging Face cache, wrapped in
  :class:`HFImageModel` so the output is one tensor: ``logits`` when the model has them, else ``pooler_output``,
  else ``last_hidden_state`` averaged over tokens (or over space for (B, C, H, W)). Layer names start with
  ``model.`` (``model.vit.encoder.layer.0``). Mean/std/input size from the folder's image processor config
  (ImageNet statistics when it has none); class names from ``config.id2label``. ``weights=None``: random weights
  from the folder's config.

Models that accept only one input size get ``Backbone.fixed_input_size`` (see :func:`detect_fixed_input_size`);
the renderer resizes its augmented views to it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from ..errors import BackboneError
from .registry import IMAGENET_MEAN, IMAGENET_STD, Backbone, Normalize, imagenet_classes

__all__ = ["HFImageModel", "detect_fixed_input_size", "load_library_backbone", "LIBRARY_PREFIXES"]

#: spec prefix -> (import name, pip extra)
LIBRARY_PREFIXES = {"timm": ("timm", "timm"), "open_clip": ("open_clip", "clip"), "transformers": ("transformers", "transformers")}


def _import(prefix: str) -> Any:
    module_name, extra = LIBRARY_PREFIXES[prefix]
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise BackboneError(
            f"Backbone '{prefix}:...' needs the package {module_name} ({error}): pip install 'lit_actmax[{extra}]'."
        ) from None


def _random(weights: object) -> bool:
    return weights is None or str(weights).lower() in ("none", "null", "")


def _hf_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")


def _hf_cached_file(repo_id: str, filenames: Sequence[str]) -> str | None:
    """The path of the first of ``filenames`` of ``repo_id`` in the local Hugging Face cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in filenames:
        found = try_to_load_from_cache(repo_id.strip("/"), filename)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def _as_hw(size: object) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    values = [int(v) for v in size]  # type: ignore[union-attr]
    return (values[-2], values[-1]) if len(values) >= 2 else (values[0], values[0])


def detect_fixed_input_size(model: nn.Module) -> tuple[int, int] | None:
    """The one input size ``model`` accepts, from its own metadata, or None when it takes any size.

    - timm models (and open_clip towers built on them): a ``patch_embed`` with ``img_size`` and
      ``strict_img_size`` (ViT, DeiT, Swin, ...) unless the model has ``dynamic_img_size``;
    - torchvision ``VisionTransformer`` and open_clip's ``VisionTransformer``/``ModifiedResNet``: ``image_size``
      (their position embeddings have one grid); torchvision's Swin pads and takes any size.
    """
    if getattr(model, "dynamic_img_size", False):
        return None
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is not None and getattr(patch_embed, "img_size", None) is not None:
        if getattr(patch_embed, "strict_img_size", False) and not getattr(patch_embed, "dynamic_img_pad", False):
            return _as_hw(patch_embed.img_size)
        return None
    cls = type(model)
    if cls.__name__ in ("VisionTransformer", "ModifiedResNet") and cls.__module__.split(".")[0] in ("torchvision", "open_clip"):
        return _as_hw(getattr(model, "image_size", None))
    if cls.__name__ == "MaxVit" and cls.__module__.startswith("torchvision"):
        return (224, 224)  # its block partition is built for the size given at construction (224 by default)
    trunk = getattr(model, "trunk", None)  # open_clip's TimmModel
    if isinstance(trunk, nn.Module):
        return detect_fixed_input_size(trunk)
    return None


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


# -- timm ----------------------------------------------------------------------------------------------
def _timm(name: str, weights: object) -> Backbone:
    timm = _import("timm")
    if not timm.is_model(name.split(".")[0]):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise BackboneError(f"timm has no model named {name!r}.{hint}")
    overlay: dict[str, Any] = {}
    pretrained = not _random(weights)
    if pretrained:
        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is None:
            raise BackboneError(f"timm model {name!r} has no pretrained weights; pass weights=None for random weights.")
        path = _timm_cached_weights(cfg)
        if path is None:
            raise BackboneError(_timm_missing(name, cfg))
        overlay = {"file": path}
    try:
        model = timm.create_model(name, pretrained=pretrained, pretrained_cfg_overlay=overlay or None)
    except (OSError, RuntimeError) as error:  # a damaged or foreign cached file
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise BackboneError(f"timm could not load the weights of {name!r} from {overlay.get('file')} ({first}); "
                            "remove the file or pass weights=None for random weights.") from None
    data = timm.data.resolve_model_data_config(model)
    input_hw = _as_hw(data.get("input_size", (3, 224, 224)))
    class_names = _timm_class_names(timm, model)
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


def _timm_cached_weights(cfg: Any) -> str | None:
    file = getattr(cfg, "file", None)
    if file and os.path.isfile(file):
        return str(file)
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        found = _hf_cached_file(hub_id, (getattr(cfg, "hf_hub_filename", None) or "model.safetensors",
                                         "model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"))
        if found:
            return found
    url = getattr(cfg, "url", None)
    if url:
        local = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])
        if local.is_file() and local.suffix != ".npz":
            return str(local)
    return None


def _timm_missing(name: str, cfg: Any) -> str:
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        where = f"the Hugging Face repo {hub_id} (model.safetensors) in {_hf_cache()}"
    else:
        url = getattr(cfg, "url", "") or ""
        where = f"the file {os.path.basename(url.split('?')[0])} (from {url}) in {Path(torch.hub.get_dir()) / 'checkpoints'}"
    return (f"The pretrained weights of timm:{name} are not in the local cache: put {where} "
            "(download them once where there is network), or pass weights=None for random weights.")


def _timm_class_names(timm: Any, model: nn.Module) -> list[str] | None:
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


# -- open_clip -----------------------------------------------------------------------------------------
def _open_clip(arch_tag: str, weights: object) -> Backbone:
    open_clip = _import("open_clip")
    arch, _, tag = arch_tag.partition(":")
    if arch not in open_clip.list_models():
        import difflib

        close = difflib.get_close_matches(arch, open_clip.list_models(), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise BackboneError(f"open_clip has no architecture {arch!r}.{hint}")
    pretrained: str | None = None
    if not _random(weights):
        tags = list(open_clip.list_pretrained_tags_by_model(arch))
        tag = tag or (str(weights) if str(weights) != "DEFAULT" else (tags[0] if tags else ""))
        if tag not in tags:
            raise BackboneError(f"open_clip architecture {arch!r} has no pretrained tag {tag!r}: use one of {tags}, "
                                "or pass weights=None for random weights.")
        pretrained = _open_clip_cached_weights(open_clip, arch, tag)
    with _quiet("root", "open_clip"):
        model = open_clip.create_model(arch, pretrained=pretrained)
    visual = model.visual
    try:
        cfg = dict(open_clip.get_model_preprocess_cfg(model))
    except Exception:  # older open_clip
        cfg = {}
    mean = tuple(cfg.get("mean") or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(cfg.get("std") or open_clip.OPENAI_DATASET_STD)
    fixed = detect_fixed_input_size(visual) or _as_hw(cfg.get("size") or getattr(visual, "image_size", None))
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


def _open_clip_cached_weights(open_clip: Any, arch: str, tag: str) -> str:
    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    hub = cfg.get("hf_hub") or ""
    if hub:
        repo, _, filename = hub.strip("/").partition("/") if hub.count("/") > 1 else (hub.strip("/"), "", "")
        names = [filename] if filename else []
        found = _hf_cached_file(repo, [*names, "open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
        if found:
            return found
    url = cfg.get("url") or ""
    folder = Path(os.path.expanduser("~")) / ".cache" / "clip"
    if url:
        local = folder / os.path.basename(url.split("?")[0])
        if local.is_file():
            return str(local)
    where = (f"the Hugging Face repo {hub.strip('/')} in {_hf_cache()}" if hub
             else f"the file {os.path.basename(url)} (from {url}) in {folder}")
    raise BackboneError(f"The pretrained weights {tag!r} of open_clip:{arch} are not in the local cache: put {where}, "
                        "or pass weights=None for random weights.")


# -- transformers --------------------------------------------------------------------------------------
class HFImageModel(nn.Module):
    """A transformers image model as ``images -> tensor``: ``logits``, else ``pooler_output``, else the mean of
    ``last_hidden_state`` over tokens (B, N, C) or space (B, C, H, W)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixel_values)
        for key in ("logits", "pooler_output"):
            value = getattr(out, key, None)
            if isinstance(value, torch.Tensor):
                return value.flatten(1) if value.dim() > 2 else value
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return hidden.mean(dim=1) if hidden.dim() == 3 else hidden.flatten(2).mean(dim=2)


def _transformers(name: str, weights: object) -> Backbone:
    transformers = _import("transformers")
    try:
        config = transformers.AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        raise BackboneError(f"transformers:{name} is neither a local model folder nor a model in the local "
                            f"Hugging Face cache {_hf_cache()} ({first}); give a folder saved with save_pretrained.") from None
    model = None
    for auto in (transformers.AutoModelForImageClassification, transformers.AutoModel):
        try:
            if _random(weights):
                model = auto.from_config(config)
            else:
                model = auto.from_pretrained(name, local_files_only=True)
            break
        except ValueError:  # this auto class does not know the architecture: try the next
            continue
        except OSError as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
            raise BackboneError(f"The weights of transformers:{name} are not in the folder or the local cache "
                                f"{_hf_cache()} ({first}); pass weights=None for random weights.") from None
    if model is None:
        raise BackboneError(f"transformers:{name} ({type(config).__name__}) is not an image model that "
                            "AutoModelForImageClassification or AutoModel can build.")
    mean, std, size = _hf_preprocessing(transformers, name, config)
    labels = getattr(config, "id2label", None) or {}
    class_names = [str(labels[i]) for i in sorted(labels)] if labels else None
    if class_names and all(n == f"LABEL_{i}" for i, n in enumerate(class_names)):
        class_names = None
    wrapped = HFImageModel(model)
    return Backbone(
        model=wrapped,
        preprocess=Normalize(mean, std),
        spec=f"transformers:{name}",
        input_size=size,
        min_size=32,
        class_names=class_names,
        extra={"weights": None if _random(weights) else "pretrained"},
        fixed_input_size=_probe_fixed_size(wrapped, config, size),
    )


def _hf_preprocessing(transformers: Any, name: str, config: Any) -> tuple[tuple, tuple, int]:
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    size = _as_hw(getattr(config, "image_size", None)) or (224, 224)
    try:
        with _quiet("transformers"):
            processor = transformers.AutoImageProcessor.from_pretrained(name, local_files_only=True)
    except Exception:  # no preprocessor_config.json: ImageNet statistics at the config's size
        return mean, std, size[0]
    mean = tuple(getattr(processor, "image_mean", None) or mean)
    std = tuple(getattr(processor, "image_std", None) or std)
    for attr in ("crop_size", "size"):
        value = getattr(processor, attr, None)
        if value is None:
            continue
        get = value.get if isinstance(value, dict) else (lambda key, v=value: getattr(v, key, None))
        side = get("height") or get("shortest_edge")
        if side:
            return mean, std, int(side)
    return mean, std, size[0]


def _probe_fixed_size(model: nn.Module, config: Any, size: int) -> tuple[int, int] | None:
    """transformers models state no "fixed size" flag: run the native size and another; fixed if only one runs."""
    patch = getattr(config, "patch_size", 16)
    patch = int(patch[0] if isinstance(patch, (list, tuple)) else patch or 16)
    other = max(patch * 2, size - 2 * patch)
    model.eval()
    with torch.no_grad():
        try:
            model(torch.zeros(1, 3, size, size))
        except Exception:
            return None  # the native size itself fails: nothing to learn here; the renderer's checks will say
        try:
            model(torch.zeros(1, 3, other, other))
        except Exception:
            return (size, size)
    return None


def load_library_backbone(spec: str, weights: object = "DEFAULT") -> Backbone:
    """Build ``timm:...``, ``open_clip:...`` or ``transformers:...`` (see the module docstring)."""
    prefix, _, rest = spec.partition(":")
    if not rest:
        raise BackboneError(f"Backbone spec {spec!r} names no model: use '{prefix}:<name>'.")
    if prefix == "timm":
        return _timm(rest, weights)
    if prefix == "open_clip":
        return _open_clip(rest, weights)
    if prefix == "transformers":
        return _transformers(rest, weights)
    raise BackboneError(f"Unknown library prefix {prefix!r} of backbone spec {spec!r}.")
