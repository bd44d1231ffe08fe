"""Input sizes: resizing a batch to a size (``(h, w)``, :func:`~lit_actmax.image.ops.as_hw`) and the one size a
fixed-input model accepts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..image.ops import as_hw

__all__ = ["resize_to", "detect_fixed_input_size"]


def resize_to(images: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Bilinear, antialiased resize of (B, C, h, w) to ``size``; unchanged when ``size`` is None or already so."""
    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


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
            return as_hw(patch_embed.img_size)
        return None
    cls = type(model)
    if cls.__name__ in ("VisionTransformer", "ModifiedResNet") and cls.__module__.split(".")[0] in ("torchvision", "open_clip"):
        return as_hw(getattr(model, "image_size", None))
    if cls.__name__ == "MaxVit" and cls.__module__.startswith("torchvision"):
        return (224, 224)  # its block partition is built for the size given at construction (224 by default)
    trunk = getattr(model, "trunk", None)  # open_clip's TimmModel
    if isinstance(trunk, nn.Module):
        return detect_fixed_input_size(trunk)
    return None
