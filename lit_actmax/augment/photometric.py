"""Photometric transforms: pixel values change, positions stay (noise, colour jitter). Each row draws from its
own generator, so after :class:`~lit_actmax.augment.MultiCrop` every crop gets its own noise and colour.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ConfigError
from .base import Transform, per_row_generators

__all__ = ["Noise", "ColorJitter"]


class Noise(Transform):
    """Add Gaussian noise of standard deviation ``std`` and uniform noise in ``[-uniform / 2, uniform / 2]``.

    Each row's noise comes from its own generator (per crop after :class:`MultiCrop`). Values are not clamped.
    """

    def __init__(self, std: float = 0.05, uniform: float = 0.05) -> None:
        super().__init__()
        if std < 0 or uniform < 0:
            raise ConfigError(f"Noise std and uniform must be >= 0, got {std} and {uniform}.")
        self.std, self.uniform = float(std), float(uniform)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.std == 0 and self.uniform == 0:
            return images
        shape = images.shape[1:]
        noise = torch.stack([
            self.std * torch.randn(shape, generator=g) + self.uniform * (torch.rand(shape, generator=g) - 0.5)
            for g in per_row_generators(images, generators)
        ])
        return images + noise.to(images.device, images.dtype)


class ColorJitter(Transform):
    """Random colour per image: each channel's contrast about mid-grey scaled by ``exp(s)``, ``s`` uniform in
    ``[-scale, scale]``, and shifted by ``m``, uniform in ``[-shift, shift]``: ``(x - 0.5) * exp(s) + 0.5 + m``.

    Ghiasi et al. (2022) draw such a colour shift for every augmented copy of a ViT's image at every step, so the
    image cannot rely on one exact colour. Each row draws from its own generator (per crop after
    :class:`MultiCrop`). Values are not clamped.
    """

    def __init__(self, shift: float = 0.1, scale: float = 0.5) -> None:
        super().__init__()
        if shift < 0 or scale < 0:
            raise ConfigError(f"ColorJitter shift and scale must be >= 0, got {shift} and {scale}.")
        self.shift, self.scale = float(shift), float(scale)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.shift == 0 and self.scale == 0:
            return images
        draws = torch.stack([torch.rand(2, images.shape[1], generator=g) for g in per_row_generators(images, generators)])
        draws = (2 * draws - 1).to(images.device, images.dtype)  # (B, 2, C) uniform in [-1, 1)
        gain = (self.scale * draws[:, 0]).exp()[..., None, None]
        offset = (self.shift * draws[:, 1])[..., None, None]
        return (images - 0.5) * gain + 0.5 + offset
