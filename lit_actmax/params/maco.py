"""MACO (Fel et al., NeurIPS 2023): a fixed natural magnitude spectrum, a learned phase; and the ``rfft2``
symmetry helpers it needs to prescribe a magnitude exactly.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..image.ops import as_hw
from .base import ImageParam, decorrelated_to_rgb, per_image_draws, rgb_to_decorrelated, squash, unsquash
from .spectrum import load_spectrum, normalize_color_matrix, resample_magnitude

__all__ = ["Maco", "hermitian_part", "hermitian_phase", "rfft2_energy"]


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
        h, w = as_hw(size)
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
        size = as_hw(size)
        self._set_size(size)
        self.count = len(generators)
        h, w = size
        shape = (3, h, w // 2 + 1)
        values = per_image_draws(generators, shape, torch.rand)
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
