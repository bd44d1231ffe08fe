"""Image parameterizations: learnable parameters -> a batch of RGB images (N, 3, H, W) in [0, 1], and back.

Every parameterization can

- ``reset(generators, size)``: (re)initialize N images, each from its own generator (seeded per unit);
- ``forward()``: produce the images (differentiable);
- ``set_image(images)``: write given images into the parameters, so ``forward()`` returns them (callbacks
  use this to blur, crop or resize the current images whatever the parameterization);
- ``resize(size)``: change the resolution, keeping the picture.

The ``nn.Parameter`` objects stay the same across ``reset``/``resize`` (only ``.data`` changes), so the
optimizer keeps pointing at them; drop their optimizer state after a reset or a resize.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ImageParam",
    "Pixel",
    "Fourier",
    "COLOR_CORRELATION_SVD_SQRT",
    "decorrelated_to_rgb",
    "rgb_to_decorrelated",
    "as_size",
]

#: Square root of the colour correlation of ImageNet images (Lucid), columns normalized below.
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float32
)


def _normalized_color_matrix(matrix: torch.Tensor = COLOR_CORRELATION_SVD_SQRT) -> torch.Tensor:
    return matrix / matrix.norm(dim=0).max()


def decorrelated_to_rgb(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in decorrelated colour space -> correlated RGB (before the squashing)."""
    return torch.einsum("nchw,dc->ndhw", t, matrix.to(t.dtype))


def rgb_to_decorrelated(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`decorrelated_to_rgb`."""
    return torch.einsum("nchw,dc->ndhw", t, torch.linalg.inv(matrix.double()).to(t.dtype))


def as_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``128`` -> ``(128, 128)``; ``(h, w)`` stays."""
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


_EPS = 1e-4


def _squash(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "sigmoid":
        return torch.sigmoid(x)
    if activation == "clamp":
        return x.clamp(0.0, 1.0)
    return x


def _unsquash(image: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "sigmoid":
        return torch.logit(image.clamp(_EPS, 1 - _EPS))
    return image


class ImageParam(nn.Module):
    """Base class of parameterizations; subclasses own their ``nn.Parameter``(s)."""

    def __init__(self, activation: str = "sigmoid") -> None:
        super().__init__()
        if activation not in ("sigmoid", "clamp", "none"):
            raise ValueError(f"activation must be 'sigmoid', 'clamp' or 'none', not {activation!r}.")
        self.activation = activation
        self.size: tuple[int, int] = (0, 0)
        self.count = 0

    def reset(self, generators: Sequence[torch.Generator], size: int | Sequence[int]) -> None:
        """Initialize ``len(generators)`` images of ``size`` from their generators."""
        raise NotImplementedError

    def set_image(self, images: torch.Tensor) -> None:
        """Write (N, 3, H, W) images in [0, 1] into the parameters (H, W may differ from the current size)."""
        raise NotImplementedError

    @torch.no_grad()
    def resize(self, size: int | Sequence[int], mode: str = "bilinear") -> None:
        """Change the resolution to ``size``, keeping the picture."""
        size = as_size(size)
        if size == self.size:
            return
        images = self.forward().float()
        resized = F.interpolate(images, size=size, mode=mode, align_corners=False, antialias=mode in ("bilinear", "bicubic"))
        self.set_image(resized.clamp(0, 1))

    def image_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def _randn(generators: Sequence[torch.Generator], shape: Sequence[int]) -> torch.Tensor:
    """(N, *shape) standard normal draws, image ``i`` from ``generators[i]`` (on the CPU: device independent)."""
    return torch.stack([torch.randn(*shape, generator=g) for g in generators]) if generators else torch.empty(0, *shape)


class Pixel(ImageParam):
    """One parameter per pixel and channel.

    ``activation``: ``"sigmoid"`` (default; parameters are logits), ``"clamp"`` (parameters are the image,
    clamped to [0, 1]) or ``"none"`` (unbounded; for reproducing methods that work in the raw input space).
    ``decorrelate`` applies Lucid's colour decorrelation. Initial values: ``mean + sd * N(0, 1)`` in
    parameter space (``mean`` defaults to 0 for sigmoid, 0.5 otherwise).
    """

    def __init__(self, activation: str = "sigmoid", decorrelate: bool = False, sd: float = 0.01, mean: float | None = None) -> None:
        super().__init__(activation)
        self.decorrelate = decorrelate
        self.sd = float(sd)
        self.mean = (0.0 if activation == "sigmoid" else 0.5) if mean is None else float(mean)
        self.pixels = nn.Parameter(torch.zeros(0, 3, 1, 1))
        self.register_buffer("color", _normalized_color_matrix(), persistent=False)

    def reset(self, generators: Sequence[torch.Generator], size: int | Sequence[int]) -> None:
        self.size, self.count = as_size(size), len(generators)
        values = self.mean + self.sd * _randn(generators, (3, *self.size))
        self.pixels.data = values.to(self.pixels.device, self.pixels.dtype)

    def forward(self) -> torch.Tensor:
        x = self.pixels
        if self.decorrelate:
            x = decorrelated_to_rgb(x, self.color)
        return _squash(x, self.activation)

    @torch.no_grad()
    def set_image(self, images: torch.Tensor) -> None:
        x = _unsquash(images.to(self.pixels.device, torch.float32), self.activation)
        if self.decorrelate:
            x = rgb_to_decorrelated(x, self.color)
        self.size, self.count = (x.shape[-2], x.shape[-1]), x.shape[0]
        self.pixels.data = x.to(self.pixels.dtype).contiguous()


def fft_frequencies(h: int, w: int) -> torch.Tensor:
    """(h, w // 2 + 1) radial frequency (cycles per pixel) of each coefficient of ``rfft2``."""
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.rfftfreq(w).view(1, -1)
    return torch.sqrt(fx * fx + fy * fy)


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
        self.register_buffer("color", _normalized_color_matrix(), persistent=False)
        self.register_buffer("scale", torch.ones(1, 1), persistent=False)

    def _set_scale(self, size: tuple[int, int]) -> None:
        h, w = size
        freqs = fft_frequencies(h, w)
        scale = 1.0 / freqs.clamp(min=1.0 / max(h, w)) ** self.decay_power
        self.scale = scale.to(self.spectrum.device)

    def reset(self, generators: Sequence[torch.Generator], size: int | Sequence[int]) -> None:
        self.size, self.count = as_size(size), len(generators)
        self._set_scale(self.size)
        h, w = self.size
        values = self.sd * _randn(generators, (3, h, w // 2 + 1, 2))
        self.spectrum.data = values.to(self.spectrum.device, self.spectrum.dtype)

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum.float()) * self.scale
        x = torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / self.MAGIC
        if self.decorrelate:
            x = decorrelated_to_rgb(x, self.color)
        return _squash(x, self.activation)

    @torch.no_grad()
    def set_image(self, images: torch.Tensor) -> None:
        x = _unsquash(images.to(self.spectrum.device, torch.float32), self.activation)
        if self.decorrelate:
            x = rgb_to_decorrelated(x, self.color)
        size = (x.shape[-2], x.shape[-1])
        if size != self.size:
            self._set_scale(size)
        self.size, self.count = size, x.shape[0]
        spectrum = torch.fft.rfft2(x * self.MAGIC, norm="ortho") / self.scale
        self.spectrum.data = torch.view_as_real(spectrum).to(self.spectrum.dtype).contiguous()


def spectrum_decay(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """The Fourier scale used above, exposed for analysis: (h, w // 2 + 1)."""
    return 1.0 / fft_frequencies(h, w).clamp(min=1.0 / max(h, w)) ** decay_power

