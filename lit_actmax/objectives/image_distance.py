"""Feature accentuation (Hamblin et al. 2024): start from a natural image and push it toward a unit while
staying close to it, to see what in *that* image drives the unit.

Two pieces: the module's ``init_image`` option (every image of a run starts as the given file, through
``param.set_image``) and :class:`ImageDistance`, a regularizer that penalizes leaving the seed image, either in
pixel space or in a layer's activation space::

    ActMaxModule(init_image="cat.jpg", param=Pixel(), regularizers=[ImageDistance(weight=2.0)])
    ActMaxModule(init_image="cat.jpg", regularizers=[ImageDistance(weight=1.0, layer="_blocks.6")])

Use a parameterization that stores images exactly (``Pixel`` or ``Fourier``); ``Maco`` keeps only the seed's phase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..image.io import load_image
from .base import RenderBatch
from .regularizers import Regularizer

if TYPE_CHECKING:
    from ..core.renderer import Renderer

__all__ = ["ImageDistance"]


class ImageDistance(Regularizer):
    """Distance from the seed image; subtract it from the objective (it is a regularizer, as TV or L2).

    Args:
        weight: strength of the pull toward the seed image.
        image: the seed image file; default: the module's ``init_image``.
        layer: ``None`` for pixel space (mean squared difference of the un-augmented images, (B,)); a layer name
            for activation space: the squared distance between each augmented view's activations and the seed's
            (un-augmented) activations at that layer, divided by the seed's mean squared activation, so weights
            mean the same at every layer.
        pooled: in activation space, compare the channel means over positions (robust to jitter and crops,
            default) or, with ``False``, every position (needs views the size of the image: no crops, no padding).
    """

    def __init__(self, weight: float = 1.0, image: str | None = None, layer: str | None = None, pooled: bool = True) -> None:
        super().__init__(weight)
        self.image_path, self.layer, self.pooled = image, layer, bool(pooled)
        self._seed: torch.Tensor | None = None  # (1, 3, H, W)
        self._seed_acts: torch.Tensor | None = None

    def bind(self, renderer: Renderer) -> None:
        """Load the seed image (and its activations at ``layer``) for ``renderer``; called by ``Renderer.attach``."""
        path = self.image_path or renderer.init_image
        if path is None:
            raise ConfigError("ImageDistance needs an image: set its `image` or the module's `init_image`.")
        self._seed = load_image(path, renderer.size).to(renderer.device)
        if self.layer is not None:
            with torch.no_grad():
                acts = renderer.probe(renderer.to_model_input(self._seed))[self.layer].float()
            self._seed_acts = self._reduce(acts)

    def _reduce(self, acts: torch.Tensor) -> torch.Tensor:
        acts = self.layout_of(acts).channels_first(acts)
        return acts.flatten(2).mean(-1) if self.pooled else acts.flatten(1)

    def seed_at(self, size: Sequence[int], device: torch.device) -> torch.Tensor:
        """The seed image (1, 3, h, w) at ``size`` (resized when the image was)."""
        if self._seed is None:
            raise RuntimeError("ImageDistance is not bound to a module yet (the module's setup binds it).")
        if tuple(self._seed.shape[-2:]) != tuple(size):
            self._seed = F.interpolate(self._seed, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        return self._seed.to(device)

    def penalty(self, image: torch.Tensor) -> torch.Tensor:
        seed = self.seed_at(image.shape[-2:], image.device)
        return (image - seed.to(image.dtype)).pow(2).flatten(1).mean(1)

    def score(self, batch: RenderBatch) -> torch.Tensor:
        if self.layer is None:
            return super().score(batch)
        if self._seed_acts is None:
            raise RuntimeError("ImageDistance is not bound to a module yet (the module's setup binds it).")
        acts = self._reduce(batch.acts[self.layer].float())
        seed = self._seed_acts.to(acts.device)
        if acts.shape[1:] != seed.shape[1:]:
            raise ConfigError(
                f"ImageDistance(layer={self.layer!r}, pooled=False) compares {tuple(acts.shape[1:])} activations with "
                f"the seed's {tuple(seed.shape[1:])}: use pooled=True with crops or padding."
            )
        scale = seed.pow(2).mean().clamp(min=1e-8)
        return self.weight * (acts - seed).pow(2).mean(1) / scale

    def describe(self) -> str:
        where = f", {self.layer}" if self.layer else ""
        return f"ImageDistance({self.weight:g}{where})"
