"""Naturalness statistics of rendered images: spectrum share, total variation, border vs centre.

Every function takes ``(N, 3, H, W)`` RGB in [0, 1] (a single ``(3, H, W)`` image is treated as ``N = 1``) and
returns one value per image, ``(N,)``. Plain torch, no Lightning. Luminance is Rec. 601:
``Y = 0.299 R + 0.587 G + 0.114 B``.

- :func:`high_frequency_share`: share of the power spectrum of the mean-removed luminance above ``cutoff``
  cycles/pixel (radial frequency ``sqrt(fx^2 + fy^2)``). The image is mirrored to (2H, 2W) before the FFT (a
  DCT-II spectrum): no window that would hide the border, and no jump at the wrap-around edge that would turn a
  smooth ramp into a sawtooth (0.02 without the mirror, as much as a photograph). White noise: about
  ``1 - pi * cutoff^2`` (0.80 at 0.25, exactly :func:`white_noise_share`); skimage's photographs at 224 px:
  0.011-0.024; a smooth gradient: about 0.
- :func:`total_variation_per_pixel`: mean absolute difference of vertically neighbouring pixels plus that of
  horizontally neighbouring ones, each averaged over channels and pixel pairs (the sum over both axes, as
  ``scripts/quality.py`` has always reported it).
- :func:`border_ratio` / :func:`border_contrast_ratio`: detail and contrast of the outer ``border`` pixels
  (the frame) relative to the rest (the centre). Detail = mean luminance gradient magnitude; contrast = standard
  deviation of the luminance. 1 = the frame looks like the centre; a frame faded toward a flat colour gives < 1.
- :func:`clipped_share`: share of colour values at the ends of the range (below 1/255 or above 254/255: what a PNG
  stores as 0 or 255); photographs have few, an image pushed past the range many.
"""

from __future__ import annotations

import math

import torch

__all__ = ["luminance", "high_frequency_share", "total_variation_per_pixel", "border_ratio",
           "border_contrast_ratio", "white_noise_share", "clipped_share"]

_EPS = 1e-12


def _batch(images: torch.Tensor) -> torch.Tensor:
    images = images.detach().double().cpu()
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images, got shape {tuple(images.shape)}")
    return images


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, H, W) Rec. 601 luminance (float64)."""
    images = _batch(images)
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1)


def _radial_frequency(h: int, w: int) -> torch.Tensor:
    """(H, W) radial frequency in cycles/pixel of the unshifted FFT grid."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1)
    return (fx**2 + fy**2).sqrt()


def high_frequency_share(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N,): power share of the mean-removed, mirrored luminance above ``cutoff`` cycles/pixel."""
    y = luminance(images)
    y = y - y.mean(dim=(-2, -1), keepdim=True)
    y = torch.cat([y, y.flip(-1)], -1)
    y = torch.cat([y, y.flip(-2)], -2)
    power = torch.fft.fft2(y).abs() ** 2
    high = _radial_frequency(*y.shape[-2:]) > cutoff
    return (power[:, high].sum(-1) / power.flatten(1).sum(-1).clamp_min(_EPS)).float()


def white_noise_share(h: int, w: int, cutoff: float = 0.25) -> float:
    """Expected :func:`high_frequency_share` of white noise in an (H, W) image.

    Every DCT-II coefficient ``(ky, kx)`` (frequency ``(ky / 2H, kx / 2W)``) of white noise has the same expected
    power, and the mirrored FFT gives each the same total weight: the answer is the share of non-DC coefficients
    above ``cutoff``.
    """
    fy = torch.arange(h, dtype=torch.float64).view(-1, 1) / (2 * h)
    fx = torch.arange(w, dtype=torch.float64).view(1, -1) / (2 * w)
    return float(((fx**2 + fy**2).sqrt() > cutoff).sum()) / (h * w - 1)


def total_variation_per_pixel(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N,): mean |vertical neighbour difference| + mean |horizontal neighbour difference|."""
    images = _batch(images)
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(1).mean(1)
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().flatten(1).mean(1)
    return (dy + dx).float()


def _frame_mask(h: int, w: int, border: int) -> torch.Tensor:
    """(H, W) bool: True within ``border`` pixels of an edge."""
    if not 0 < 2 * border < min(h, w):
        raise ValueError(f"border {border} leaves no centre in a {h}x{w} image")
    mask = torch.ones(h, w, dtype=torch.bool)
    mask[border:h - border, border:w - border] = False
    return mask


def border_ratio(images: torch.Tensor, border: int = 16) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N,): mean luminance gradient magnitude in the outer ``border`` pixels / in the centre.

    Gradient magnitude at pixel (i, j) of the (H-1, W-1) grid: ``sqrt((Y[i+1,j]-Y[i,j])^2 + (Y[i,j+1]-Y[i,j])^2)``;
    the frame is every grid pixel within ``border`` of an edge of that grid, the centre all others.
    """
    y = luminance(images)
    dy = y[:, 1:, :-1] - y[:, :-1, :-1]
    dx = y[:, :-1, 1:] - y[:, :-1, :-1]
    grad = (dx**2 + dy**2).sqrt()
    frame = _frame_mask(*grad.shape[-2:], border)
    return (grad[:, frame].mean(-1) / grad[:, ~frame].mean(-1).clamp_min(_EPS)).float()


def border_contrast_ratio(images: torch.Tensor, border: int = 16) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N,): std of the luminance in the outer ``border`` pixels / std in the centre."""
    y = luminance(images)
    frame = _frame_mask(*y.shape[-2:], border)
    return (y[:, frame].std(-1) / y[:, ~frame].std(-1).clamp_min(math.sqrt(_EPS))).float()


def clipped_share(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N,): share of the 3 * H * W colour values below 1/255 or above 254/255."""
    images = _batch(images)
    return ((images < 1 / 255) | (images > 254 / 255)).flatten(1).double().mean(1).float()
