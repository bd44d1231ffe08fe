"""Pixel: one parameter per pixel and channel, optionally in Lucid's decorrelated colour space."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..image.ops import as_hw
from .base import COLOR_CORRELATION_SVD_SQRT, ImageParam, per_image_draws
from .spectrum import normalize_color_matrix

__all__ = ["Pixel"]


def _per_channel(value: float | Sequence[float], name: str) -> float | torch.Tensor:
    """A scalar stays a float; three values become a (3, 1, 1) tensor that broadcasts over (3, H, W)."""
    if isinstance(value, (int, float)):
        return float(value)
    values = [float(v) for v in value]
    if len(values) != 3:
        raise ConfigError(f"Pixel {name} must be one number or three (one per RGB channel), got {len(values)}.")
    return torch.tensor(values).view(3, 1, 1)


class Pixel(ImageParam):
    """One parameter per pixel and channel.

    ``activation``: ``"sigmoid"`` (default; parameters are logits), ``"clamp"`` (parameters are the image,
    clamped to [0, 1]) or ``"none"`` (unbounded; for reproducing methods that work in the raw input space).
    ``decorrelate`` applies Lucid's colour decorrelation. Initial values: ``mean + sd * N(0, 1)`` in
    parameter space (``mean`` defaults to 0 for sigmoid, 0.5 otherwise); ``mean`` and ``sd`` are one number or
    three, one per RGB channel (e.g. a dataset's normalization, so that the start is N(0, 1) in the model's space).
    """

    def __init__(self, activation: str = "sigmoid", decorrelate: bool = False, sd: float | Sequence[float] = 0.01,
                 mean: float | Sequence[float] | None = None) -> None:
        super().__init__(activation)
        self.decorrelate = decorrelate
        self.sd = _per_channel(sd, "sd")
        self.mean = _per_channel((0.0 if activation == "sigmoid" else 0.5) if mean is None else mean, "mean")
        self.pixels = nn.Parameter(torch.zeros(0, 3, 1, 1))
        self.register_buffer("color", normalize_color_matrix(COLOR_CORRELATION_SVD_SQRT), persistent=False)

    def reset(self, generators: Sequence[torch.Generator], size: int | Sequence[int]) -> None:
        self.size, self.count = as_hw(size), len(generators)
        values = self.mean + self.sd * per_image_draws(generators, (3, *self.size))
        self.pixels.data = values.to(self.pixels.device, self.pixels.dtype)

    def forward(self) -> torch.Tensor:
        return self.to_image(self.pixels)

    @torch.no_grad()
    def set_image(self, images: torch.Tensor) -> None:
        x = self.from_image(images, self.pixels.device)
        self.size, self.count = (x.shape[-2], x.shape[-1]), x.shape[0]
        self.pixels.data = x.to(self.pixels.dtype).contiguous()
