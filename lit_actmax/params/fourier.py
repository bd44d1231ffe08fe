"""Fourier: Lucid's parameterization of each image by its scaled ``rfft2`` spectrum, and the library's default image."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..image.ops import as_hw
from .base import COLOR_CORRELATION_SVD_SQRT, ImageParam, per_image_draws
from .spectrum import fft_frequencies, normalize_color_matrix

__all__ = ["Fourier", "default_param"]


class Fourier(ImageParam):
    """Lucid's Fourier parameterization with decorrelated colour (the default).

    The parameters are the real and imaginary parts of each image's ``rfft2`` spectrum, scaled by
    ``1 / max(f, 1 / max(h, w)) ** decay_power`` so that all frequencies learn at a comparable rate; then the
    colour decorrelation and a sigmoid map to RGB in [0, 1]. Initial spectrum ``sd * N(0, 1)``.
    """

    MAGIC = 4.0  # Lucid's constant: divides the spatial image, reducing saturation

    def __init__(self, decay_power: float = 1.0, sd: float = 0.01, decorrelate: bool = True, activation: str = "sigmoid") -> None:
        super().__init__(activation)
        self.decay_power = float(decay_power)
        self.sd = float(sd)
        self.decorrelate = decorrelate
        self.spectrum = nn.Parameter(torch.zeros(0, 3, 1, 1, 2))
        self.register_buffer("color", normalize_color_matrix(COLOR_CORRELATION_SVD_SQRT), persistent=False)
        self.register_buffer("scale", torch.ones(1, 1), persistent=False)

    def _set_scale(self, size: tuple[int, int]) -> None:
        h, w = size
        freqs = fft_frequencies(h, w)
        scale = 1.0 / freqs.clamp(min=1.0 / max(h, w)) ** self.decay_power
        self.scale = scale.to(self.spectrum.device)

    def reset(self, generators: Sequence[torch.Generator], size: int | Sequence[int]) -> None:
        self.size, self.count = as_hw(size), len(generators)
        self._set_scale(self.size)
        h, w = self.size
        values = self.sd * per_image_draws(generators, (3, h, w // 2 + 1, 2))
        self.spectrum.data = values.to(self.spectrum.device, self.spectrum.dtype)

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum.float()) * self.scale
        return self.to_image(torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / self.MAGIC)

    @torch.no_grad()
    def set_image(self, images: torch.Tensor) -> None:
        x = self.from_image(images, self.spectrum.device)
        size = (x.shape[-2], x.shape[-1])
        if size != self.size:
            self._set_scale(size)
        self.size, self.count = size, x.shape[0]
        spectrum = torch.fft.rfft2(x * self.MAGIC, norm="ortho") / self.scale
        self.spectrum.data = torch.view_as_real(spectrum).to(self.spectrum.dtype).contiguous()


def default_param() -> Fourier:
    """The library's default image: ``Fourier(decay_power=1.5)``. Steeper than Lucid's 1/f, it keeps the high
    frequencies near photograph level at 224 px with :func:`~lit_actmax.augment.natural_transforms` and Adam 0.02
    (docs/compare.md)."""
    return Fourier(decay_power=1.5)
