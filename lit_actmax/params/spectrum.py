"""Natural-image statistics for MACO: an average Fourier magnitude spectrum and a colour decorrelation matrix.

The package ships ``data/spectrum_256.npz`` (computed by ``scripts/estimate_spectrum.py --skimage`` from the
colour photographs bundled with scikit-image); :func:`estimate_spectrum` recomputes both from any images, e.g. the
user's own data set. Files hold:

- ``magnitude``: (3, S, S // 2 + 1) mean ``|rfft2|`` (``norm="ortho"``) of images in decorrelated colour space;
- ``color``: (3, 3) square root of the RGB pixel covariance (Lucid's ``color_correlation_svd_sqrt``: columns are
  principal colour directions scaled by their standard deviation); decorrelated = ``inv(normalized color) @ rgb``;
- ``sources``: the names of the images used; ``window``: the window applied before the FFT.

Loading needs only numpy and torch. :mod:`lit_actmax.params` builds on this module (never the other way).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = [
    "Spectrum",
    "DEFAULT_SPECTRUM",
    "load_spectrum",
    "save_spectrum",
    "estimate_spectrum",
    "estimate_color_matrix",
    "normalize_color_matrix",
    "fft_frequencies",
    "resample_magnitude",
    "spectrum_slope",
    "magnitude_slope",
]

DEFAULT_SPECTRUM = Path(__file__).resolve().parent.parent / "data" / "spectrum_256.npz"


@dataclass
class Spectrum:
    """A magnitude spectrum (3, S, S // 2 + 1) in decorrelated colour space and its colour matrix (3, 3)."""

    magnitude: torch.Tensor
    color: torch.Tensor
    sources: list[str] = field(default_factory=list)
    window: str = "hann"

    def __post_init__(self) -> None:
        mag, color = self.magnitude, self.color
        if mag.dim() != 3 or mag.shape[0] != 3 or mag.shape[2] != mag.shape[1] // 2 + 1:
            raise ConfigError(f"A spectrum magnitude must have shape (3, S, S // 2 + 1), got {tuple(mag.shape)}.")
        if tuple(color.shape) != (3, 3):
            raise ConfigError(f"A colour matrix must have shape (3, 3), got {tuple(color.shape)}.")

    @property
    def size(self) -> int:
        return int(self.magnitude.shape[1])


def normalize_color_matrix(matrix: torch.Tensor) -> torch.Tensor:
    """Scale a colour matrix so its largest column has norm 1 (as Lucid does)."""
    return matrix / matrix.norm(dim=0).max()


def fft_frequencies(h: int, w: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(h, w // 2 + 1) radial frequency (cycles per pixel) of each coefficient of ``rfft2``."""
    fy = torch.fft.fftfreq(h, dtype=dtype).view(-1, 1)
    fx = torch.fft.rfftfreq(w, dtype=dtype).view(1, -1)
    return torch.sqrt(fx * fx + fy * fy)


def load_spectrum(path: str | os.PathLike | None = None) -> Spectrum:
    """Read a spectrum file (default: the one shipped with the package)."""
    path = Path(path) if path is not None else DEFAULT_SPECTRUM
    if not path.is_file():
        raise ConfigError(
            f"Spectrum file {str(path)!r} does not exist; make one with scripts/estimate_spectrum.py or omit it."
        )
    with np.load(path, allow_pickle=False) as data:
        missing = {"magnitude", "color"} - set(data.files)
        if missing:
            raise ConfigError(f"Spectrum file {str(path)!r} lacks {sorted(missing)}; recreate it with scripts/estimate_spectrum.py.")
        sources = [str(s) for s in data["sources"]] if "sources" in data.files else []
        window = str(data["window"]) if "window" in data.files else "none"
        return Spectrum(
            magnitude=torch.from_numpy(data["magnitude"].astype(np.float32)),
            color=torch.from_numpy(data["color"].astype(np.float32)),
            sources=sources, window=window,
        )


def save_spectrum(spectrum: Spectrum, path: str | os.PathLike, dtype: np.dtype = np.float16) -> Path:
    """Write ``spectrum`` as a compressed ``.npz`` (magnitude stored as ``dtype``, default float16)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp, magnitude=spectrum.magnitude.numpy().astype(dtype), color=spectrum.color.numpy().astype(np.float32),
        sources=np.array(spectrum.sources, dtype=str), window=np.array(spectrum.window),
    )
    os.replace(tmp, path)
    return path


def _hann(n: int) -> torch.Tensor:
    return torch.hann_window(n, periodic=False, dtype=torch.float64)


def _random_crops(image: torch.Tensor, count: int, size: int, generator: torch.Generator,
                  scale: tuple[float, float]) -> torch.Tensor:
    """(3, H, W) -> (count, 3, size, size): random square crops (side ``scale`` x the shorter side), random flips."""
    _, h, w = image.shape
    crops = []
    for _ in range(count):
        side = int(round(min(h, w) * (scale[0] + (scale[1] - scale[0]) * float(torch.rand((), generator=generator)))))
        side = max(8, min(side, h, w))
        y = int(torch.randint(h - side + 1, (), generator=generator))
        x = int(torch.randint(w - side + 1, (), generator=generator))
        crop = image[:, y:y + side, x:x + side].unsqueeze(0)
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if bool(torch.rand((), generator=generator) < 0.5):
            crop = crop.flip(-1)
        crops.append(crop)
    return torch.cat(crops)


def estimate_color_matrix(images: Sequence[torch.Tensor], samples: int = 200_000, seed: int = 0) -> torch.Tensor:
    """(3, 3) square root of the RGB covariance of ``images`` (each (3, H, W) in [0, 1]), Lucid's convention.

    Columns are principal colour directions times their standard deviation, largest first; each column's sign
    makes its largest entry positive.
    """
    if not images:
        raise ConfigError("estimate_color_matrix needs at least one image.")
    generator = torch.Generator().manual_seed(seed)
    per_image = max(1, samples // len(images))
    pixels = []
    for image in images:
        flat = image.double().reshape(3, -1)
        index = torch.randint(flat.shape[1], (min(per_image, flat.shape[1]),), generator=generator)
        pixels.append(flat[:, index])
    x = torch.cat(pixels, dim=1)
    cov = torch.cov(x)
    values, vectors = torch.linalg.eigh(cov)
    order = values.argsort(descending=True)
    values, vectors = values[order].clamp(min=1e-8), vectors[:, order]
    signs = torch.sign(vectors.gather(0, vectors.abs().argmax(0, keepdim=True)))
    return (vectors * signs * values.sqrt()).float()


def estimate_spectrum(
    images: Iterable[torch.Tensor], size: int = 256, crops: int = 16, scale: tuple[float, float] = (0.5, 1.0),
    window: str = "hann", color: torch.Tensor | None = None, seed: int = 0, sources: Sequence[str] = (),
) -> Spectrum:
    """Average magnitude spectrum of ``images`` ((3, H, W) RGB in [0, 1], any sizes) in decorrelated colour space.

    Each image gives ``crops`` random square crops (``scale`` x its shorter side, random horizontal flips),
    resized to ``size``; each crop is centred per channel, mapped to decorrelated colour with ``color`` (default:
    estimated from the same images), windowed (``"hann"`` avoids the cross that image borders put on the axes of
    the spectrum; ``"none"`` keeps it) and Fourier transformed. Returns the mean ``|rfft2|``.
    """
    if window not in ("hann", "none"):
        raise ConfigError(f"window must be 'hann' or 'none', not {window!r}.")
    images = [torch.as_tensor(im, dtype=torch.float32) for im in images]
    if not images:
        raise ConfigError("estimate_spectrum needs at least one image.")
    for im in images:
        if im.dim() != 3 or im.shape[0] != 3:
            raise ConfigError(f"Images must be RGB tensors (3, H, W), got {tuple(im.shape)}.")
    if color is None:
        color = estimate_color_matrix(images, seed=seed)
    inverse = torch.linalg.inv(normalize_color_matrix(color.double()))
    win = (_hann(size).view(-1, 1) * _hann(size).view(1, -1)) if window == "hann" else torch.ones(size, size, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(3, size, size // 2 + 1, dtype=torch.float64)
    count = 0
    for image in images:
        batch = _random_crops(image, crops, size, generator, scale).double()  # (crops, 3, size, size)
        batch = batch - batch.mean(dim=(2, 3), keepdim=True)
        batch = torch.einsum("dc,nchw->ndhw", inverse, batch) * win
        total += torch.fft.rfft2(batch, norm="ortho").abs().sum(0)
        count += batch.shape[0]
    return Spectrum(magnitude=(total / count).float(), color=color.float(), sources=list(sources), window=window)


def resample_magnitude(magnitude: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample a (C, S, S // 2 + 1) ``rfft2`` magnitude to (C, h, w // 2 + 1) at the same frequencies.

    Frequencies are matched in cycles per pixel (so a 1/f spectrum stays 1/f); the interpolation is bilinear in
    log-magnitude on the centred frequency grid.
    """
    c, s, half = magnitude.shape
    h, w = size
    log_mag = torch.fft.fftshift(magnitude.double().clamp(min=1e-12).log(), dim=1)  # rows: -s/2 .. s/2 - 1
    fy = torch.fft.fftfreq(h, dtype=torch.float64)  # target frequencies, cycles per pixel
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)
    rows = fy * s + s // 2  # source row index (after fftshift)
    cols = fx * s  # source column index
    gy = rows / (s - 1) * 2 - 1
    gx = cols / (half - 1) * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(gx.view(1, -1), gy.view(-1, 1)), dim=-1).unsqueeze(0)
    out = F.grid_sample(log_mag.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.squeeze(0).exp().to(magnitude.dtype)


def magnitude_slope(amplitude: torch.Tensor, width: int, low: float = 0.02, high: float = 0.4) -> torch.Tensor:
    """(B, h, w // 2 + 1) ``rfft2`` amplitudes of images ``width`` wide -> (B,) slope of log ring-mean amplitude
    vs log frequency, over rings of ``[low, high]`` cycles per pixel (natural images: about -1 to -1.3)."""
    radius = fft_frequencies(amplitude.shape[-2], width, dtype=torch.float64).to(amplitude.device)
    edges = torch.logspace(np.log10(low), np.log10(high), 16, dtype=torch.float64)
    log_f, log_a = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        ring = (radius >= lo) & (radius < hi)
        if bool(ring.any()):
            log_f.append(torch.log((lo * hi).sqrt()))
            log_a.append(amplitude.double()[:, ring].mean(1).clamp(min=1e-12).log())
    f = torch.stack(log_f).to(amplitude.device)
    a = torch.stack(log_a, dim=1)  # (B, rings)
    fc = f - f.mean()
    return (((a - a.mean(1, keepdim=True)) * fc).sum(1) / (fc * fc).sum()).float()


def spectrum_slope(images: torch.Tensor, low: float = 0.02, high: float = 0.4) -> torch.Tensor:
    """(B, 3, H, W) -> (B,): the amplitude spectrum slope of each image (see :func:`magnitude_slope`).

    The amplitude is averaged over channels; the image is windowed (Hann) first, so that its borders do not add
    a spurious 1/f cross. Natural photographs: about -1 to -1.3; white noise: 0; smoother images: steeper.
    """
    _, _, h, w = images.shape
    win = (_hann(h).view(-1, 1) * _hann(w).view(1, -1)).to(images.device)
    x = images.double() - images.double().mean(dim=(2, 3), keepdim=True)
    amp = torch.fft.rfft2(x * win, norm="ortho").abs().mean(1)  # (B, h, w//2+1)
    return magnitude_slope(amp, w, low, high)
