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

from ..errors import ConfigError
from .spectrum import fft_frequencies, load_spectrum, normalize_color_matrix, resample_magnitude

__all__ = [
    "ImageParam",
    "Pixel",
    "Fourier",
    "default_param",
    "COLOR_CORRELATION_SVD_SQRT",
    "decorrelated_to_rgb",
    "rgb_to_decorrelated",
    "as_size",
    "squash",
    "unsquash",
    "Maco",
    "hermitian_part",
    "hermitian_phase",
    "rfft2_energy",
]

#: Square root of the colour correlation of ImageNet images (Lucid), columns normalized below.
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float32
)


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


def squash(x: torch.Tensor, activation: str) -> torch.Tensor:
    """Map raw values to an image: ``"sigmoid"``, ``"clamp"`` to [0, 1], or ``"none"`` (unchanged)."""
    if activation == "sigmoid":
        return torch.sigmoid(x)
    if activation == "clamp":
        return x.clamp(0.0, 1.0)
    return x


def unsquash(image: torch.Tensor, activation: str) -> torch.Tensor:
    """Inverse of :func:`squash` (for ``"sigmoid"``, up to clipping at ``1e-4`` from 0 and 1)."""
    if activation == "sigmoid":
        return torch.logit(image.clamp(_EPS, 1 - _EPS))
    return image


class ImageParam(nn.Module):
    """Base class of parameterizations; subclasses own their ``nn.Parameter``(s)."""

    def __init__(self, activation: str = "sigmoid") -> None:
        super().__init__()
        if activation not in ("sigmoid", "clamp", "none"):
            raise ConfigError(f"activation must be 'sigmoid', 'clamp' or 'none', not {activation!r}.")
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

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def _randn(generators: Sequence[torch.Generator], shape: Sequence[int]) -> torch.Tensor:
    """(N, *shape) standard normal draws, image ``i`` from ``generators[i]`` (on the CPU: device independent)."""
    return torch.stack([torch.randn(*shape, generator=g) for g in generators]) if generators else torch.empty(0, *shape)


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
        self.size, self.count = as_size(size), len(generators)
        values = self.mean + self.sd * _randn(generators, (3, *self.size))
        self.pixels.data = values.to(self.pixels.device, self.pixels.dtype)

    def forward(self) -> torch.Tensor:
        x = self.pixels
        if self.decorrelate:
            x = decorrelated_to_rgb(x, self.color)
        return squash(x, self.activation)

    @torch.no_grad()
    def set_image(self, images: torch.Tensor) -> None:
        x = unsquash(images.to(self.pixels.device, torch.float32), self.activation)
        if self.decorrelate:
            x = rgb_to_decorrelated(x, self.color)
        self.size, self.count = (x.shape[-2], x.shape[-1]), x.shape[0]
        self.pixels.data = x.to(self.pixels.dtype).contiguous()


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
        return squash(x, self.activation)

    @torch.no_grad()
    def set_image(self, images: torch.Tensor) -> None:
        x = unsquash(images.to(self.spectrum.device, torch.float32), self.activation)
        if self.decorrelate:
            x = rgb_to_decorrelated(x, self.color)
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


def hermitian_part(spectrum: torch.Tensor, width: int, sign: float = 1.0) -> torch.Tensor:
    """Symmetrize an ``rfft2``-layout tensor (..., h, w // 2 + 1) of an image ``width`` wide, as a real image needs.

    In the self-conjugate columns (frequency 0, and w / 2 when ``width`` is even), row frequency ``k`` and ``-k``
    describe the same coefficient pair: keep the even part (``sign=1``: magnitudes) or the odd part (``sign=-1``:
    phases, ``phase(-k) = -phase(k)``). Other columns are returned as they are.
    """
    h, half = spectrum.shape[-2], spectrum.shape[-1]
    neg = (-torch.arange(h, device=spectrum.device)) % h
    columns = torch.zeros(half, dtype=torch.bool, device=spectrum.device)
    columns[0] = True
    if width % 2 == 0:
        columns[-1] = True
    return torch.where(columns, 0.5 * (spectrum + sign * spectrum[..., neg, :]), spectrum)


def rfft2_energy(spectrum: torch.Tensor, width: int) -> torch.Tensor:
    """(..., h, w // 2 + 1) ``rfft2`` coefficients (complex, or their magnitudes) of images ``width`` wide -> (...)
    sum of squared magnitudes over the full spectrum (each column counted twice where its mirror is implied).
    With ``norm="ortho"`` this is the images' sum of squares over pixels (Parseval)."""
    weight = torch.full((spectrum.shape[-1],), 2.0, dtype=spectrum.abs().dtype, device=spectrum.device)
    weight[0] = 1.0
    if width % 2 == 0:
        weight[-1] = 1.0
    return (spectrum.abs().pow(2) * weight).sum(dim=(-2, -1))


def hermitian_phase(phase: torch.Tensor, width: int) -> torch.Tensor:
    """The odd part of a phase in the self-conjugate columns (see :func:`hermitian_part`): with it, ``irfft2``
    uses every coefficient as given, so the result's ``rfft2`` magnitude is exactly the prescribed one.

    The (up to four) coefficients that are their own conjugate (DC and Nyquist rows/columns) must be real: their
    phase becomes 0 or pi, whichever is nearer (these few phases get no gradient).
    """
    h, half = phase.shape[-2], phase.shape[-1]
    odd = hermitian_part(phase, width, sign=-1.0)
    rows = [0] + ([h // 2] if h % 2 == 0 else [])
    cols = [0] + ([half - 1] if width % 2 == 0 else [])
    real = torch.zeros(h, half, dtype=torch.bool, device=phase.device)
    real[torch.tensor(rows).view(-1, 1), torch.tensor(cols).view(1, -1)] = True
    return torch.where(real, torch.pi * (torch.cos(phase.detach()) < 0).to(phase.dtype), odd)

class Maco(ImageParam):
    """MACO (Fel et al., NeurIPS 2023): optimize only the Fourier phase; the magnitude is a fixed natural spectrum.

    ``image = squash(color @ irfft2(M * exp(i * phase)))`` per image, with ``M`` (3, H, W // 2 + 1) the average
    magnitude spectrum of natural images in decorrelated colour space (``spectrum``: a file written by
    ``scripts/estimate_spectrum.py``; default: the one shipped in ``lit_actmax/data``), resampled to the image
    size, its DC set to 0 (mean colour: mid grey) and scaled so the decorrelated image has standard deviation
    ``contrast``. The colour matrix comes from the same file. Every image therefore has exactly the prescribed
    magnitude spectrum; only its phase (``self.phase``, (N, 3, H, W // 2 + 1)) is learned, initialized uniformly
    in [-pi, pi) (a random natural-looking texture).

    ``normalize_phase`` (as in the reference implementation) standardizes each image's phase parameters before
    use, which makes the step size scale-free (MACO's recipe uses a large learning rate, e.g. Adam lr 0.5-1);
    the per-image affine ``phase_scale``/``phase_shift`` buffers let :meth:`set_image` represent any phase.
    ``set_image`` keeps the phase of the given images only (their own magnitude is replaced by ``M``), so the
    images it stores are approximations: blur/resize callbacks and accentuation seeds pass through this filter.
    """

    def __init__(
        self, spectrum: str | None = None, contrast: float = 1.0, normalize_phase: bool = True,
        activation: str = "sigmoid",
    ) -> None:
        super().__init__(activation)
        if contrast <= 0:
            raise ConfigError(f"contrast must be positive, got {contrast}.")
        self.spectrum_path = spectrum
        self.contrast, self.normalize_phase = float(contrast), bool(normalize_phase)
        self._spectrum = load_spectrum(spectrum)
        self.phase = nn.Parameter(torch.zeros(0, 3, 1, 1))
        self.register_buffer("phase_scale", torch.ones(0))
        self.register_buffer("phase_shift", torch.zeros(0))
        self.register_buffer("color", normalize_color_matrix(self._spectrum.color), persistent=False)
        self.register_buffer("magnitude", torch.zeros(3, 1, 1), persistent=False)

    def magnitude_for(self, size: int | Sequence[int]) -> torch.Tensor:
        """The prescribed magnitude (3, h, w // 2 + 1) at ``size``: resampled, DC 0, scaled to ``contrast``."""
        h, w = as_size(size)
        mag = resample_magnitude(self._spectrum.magnitude.double(), (h, w))
        mag = hermitian_part(mag, w)
        mag[:, 0, 0] = 0.0
        variance = rfft2_energy(mag, w).sum() / (3 * h * w)  # Parseval (norm="ortho"): mean of x^2 over pixels
        return (mag * (self.contrast / variance.sqrt())).float()

    def _set_size(self, size: tuple[int, int]) -> None:
        if size != self.size or self.magnitude.shape[-2:] != (size[0], size[1] // 2 + 1):
            self.magnitude = self.magnitude_for(size).to(self.phase.device)
        self.size = size

    def reset(self, generators: Sequence[torch.Generator], size: int | Sequence[int]) -> None:
        size = as_size(size)
        self._set_size(size)
        self.count = len(generators)
        h, w = size
        shape = (3, h, w // 2 + 1)
        values = torch.stack([torch.rand(shape, generator=g) for g in generators]) if generators else torch.empty(0, *shape)
        self._store_phase(((2 * values - 1) * torch.pi).to(self.phase.device))

    def _store_phase(self, phase: torch.Tensor) -> None:
        """Make :meth:`phases` return ``phase`` (N, 3, h, w // 2 + 1) (up to the Hermitian constraint)."""
        self.count = phase.shape[0]
        self.phase.data = phase.to(self.phase.dtype).contiguous()
        if self.normalize_phase:  # forward standardizes the parameters; this affine undoes it for the stored phase
            self.phase_shift = phase.mean(dim=(1, 2, 3))
            self.phase_scale = phase.std(dim=(1, 2, 3), unbiased=False) + 1e-5
        else:
            self.phase_scale = torch.ones(self.count, device=self.phase.device)
            self.phase_shift = torch.zeros(self.count, device=self.phase.device)

    def phases(self) -> torch.Tensor:
        """The phase actually used, (N, 3, h, w // 2 + 1), after normalization and the Hermitian constraint."""
        phase = self.phase.float()
        if self.normalize_phase:
            mean = phase.mean(dim=(1, 2, 3), keepdim=True)
            std = phase.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
            phase = (phase - mean) / (std + 1e-5) * self.phase_scale.view(-1, 1, 1, 1) + self.phase_shift.view(-1, 1, 1, 1)
        return hermitian_phase(phase, self.size[1])

    def decorrelated(self) -> torch.Tensor:
        """(N, 3, H, W): the image in decorrelated colour space, before colour mixing and squashing."""
        phase = self.phases()
        spectrum = torch.complex(self.magnitude * torch.cos(phase), self.magnitude * torch.sin(phase))
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho")

    def forward(self) -> torch.Tensor:
        return squash(decorrelated_to_rgb(self.decorrelated(), self.color), self.activation)

    def spectrum_of(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) images in [0, 1] -> their (N, 3, H, W // 2 + 1) complex ``rfft2`` (norm "ortho") in this
        parameterization's space: unsquashed, decorrelated colour. Its phase is what :meth:`set_image` keeps."""
        x = unsquash(images.to(self.phase.device, torch.float32), self.activation)
        return torch.fft.rfft2(rgb_to_decorrelated(x, self.color), norm="ortho")

    @torch.no_grad()
    def set_image(self, images: torch.Tensor) -> None:
        """Keep the phase of (N, 3, H, W) images in [0, 1]; their magnitude is replaced by the prescribed one."""
        spectrum = self.spectrum_of(images)
        self._set_size((images.shape[-2], images.shape[-1]))
        self._store_phase(torch.angle(spectrum))
