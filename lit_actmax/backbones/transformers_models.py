"""``"transformers:<folder or cached name>"``: a Hugging Face transformers image model (the optional extra
``pip install 'lit_actmax[transformers]'``).

``AutoModelForImageClassification`` (``AutoModel`` for checkpoints without a classification head) from a local
folder or the local Hugging Face cache, wrapped in :class:`HFImageModel` so the output is one tensor. Layer names
start with ``model.`` (``model.vit.encoder.layer.0``). Mean/std/input size from the folder's image processor config
(ImageNet statistics when it has none); class names from ``config.id2label``. ``weights=None``: random weights from
the folder's config.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import BackboneError
from ..image.ops import as_hw
from .backbone import Backbone
from .extras import import_library, quiet_loggers
from .imagenet import IMAGENET_MEAN, IMAGENET_STD
from .local_weights import hf_cache_folder, random_weights_requested
from .preprocessing import Normalize

__all__ = ["HFImageModel", "load_transformers"]


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


def load_transformers(name: str, weights: str | None = "DEFAULT") -> Backbone:
    """The image model of the folder or cached name ``name``, pretrained or random (``weights=None``)."""
    transformers = import_library("transformers", name)
    try:
        config = transformers.AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        raise BackboneError(f"transformers:{name} is neither a local model folder nor a model in the local "
                            f"Hugging Face cache {hf_cache_folder()} ({first}); give a folder saved with save_pretrained.") from None
    model = None
    for auto in (transformers.AutoModelForImageClassification, transformers.AutoModel):
        try:
            if random_weights_requested(weights):
                model = auto.from_config(config)
            else:
                model = auto.from_pretrained(name, local_files_only=True)
            break
        except ValueError:  # this auto class does not know the architecture: try the next
            continue
        except OSError as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
            raise BackboneError(f"The weights of transformers:{name} are not in the folder or the local cache "
                                f"{hf_cache_folder()} ({first}); pass weights=None for random weights.") from None
    if model is None:
        raise BackboneError(f"transformers:{name} ({type(config).__name__}) is not an image model that "
                            "AutoModelForImageClassification or AutoModel can build.")
    mean, std, size = _preprocessing(transformers, name, config)
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
        extra={"weights": None if random_weights_requested(weights) else "pretrained"},
        fixed_input_size=_probe_fixed_size(wrapped, config, size),
    )


def _preprocessing(transformers: Any, name: str, config: Any) -> tuple[tuple, tuple, int]:
    """(mean, std, input side) from the image processor config, else ImageNet statistics at the config's size."""
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    size = as_hw(getattr(config, "image_size", None)) or (224, 224)
    try:
        with quiet_loggers("transformers"):
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
