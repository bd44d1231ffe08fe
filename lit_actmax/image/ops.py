"""Pure tensor image operations for the between-epoch callbacks and the per-step augmentations: blurs, crops,
warps (the one affine warp of the package: :func:`affine_matrices` and :func:`warp`). Everything runs on the
images' own device and dtype; images are batches (N, C, H, W) (RGB in [0, 1] unless a caller works in another
space), and every operation treats each image on its own.

The operations follow the reference tools they stand in for, so seed methods can be reproduced exactly:

- :func:`gaussian_blur` is ``scipy.ndimage.gaussian_filter`` per channel (``truncate=4``, ``mode="reflect"``
  = half-sample symmetric border), as in ``act_max_util.py``;
- :func:`box_blur` is OpenCV's ``cv2.blur`` (border ``BORDER_REFLECT_101``), midnite's ``BlurTransform``;
- :func:`bilateral_filter` is OpenCV's ``cv2.bilateralFilter`` on float images (disc window of radius
  ``diameter // 2``, colour distance = sum of absolute channel differences), midnite's ``BilateralTransform``;
- :func:`norm_crop` / :func:`contribution_crop` are ``act_max_util``'s crops, with NumPy's percentile.

Every operation that reads beyond the image edge takes a ``border`` mode (:data:`BORDERS`, :data:`WARP_BORDERS`).
"""

from __future__ import annotations

import math
from typing import Sequence, overload

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = [
    "as_hw",
    "BORDERS",
    "WARP_BORDERS",
    "check_border",
    "pad2d",
    "gaussian_kernel1d",
    "gaussian_blur",
    "box_blur",
    "bilateral_filter",
    "percentile",
    "norm_crop",
    "contribution_crop",
    "affine_matrices",
    "warp",
    "input_affine",
]

#: Border modes of :func:`pad2d`: ``symmetric`` repeats the edge pixel (d c b a | a b c d; SciPy's "reflect",
#: NumPy's "symmetric"), ``reflect`` does not (d c b | a b c d; OpenCV's BORDER_REFLECT_101, torch's "reflect"),
#: ``replicate`` repeats the edge (a a a | a b c d), ``circular`` wraps around.
BORDERS = ("symmetric", "reflect", "replicate", "circular")


@overload
def as_hw(size: None) -> None: ...
@overload
def as_hw(size: int | Sequence[int]) -> tuple[int, int]: ...
def as_hw(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """A size as ``(h, w)``: ``128`` -> ``(128, 128)``; ``(h, w)`` stays; ``(128,)`` -> ``(128, 128)``; of a longer
    shape such as ``(3, h, w)`` the last two; None stays None."""
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    values = tuple(int(v) for v in size)
    return (values[0], values[0]) if len(values) == 1 else (values[-2], values[-1])


def check_border(border: str, choices: Sequence[str] = BORDERS) -> str:
    """``border`` if it is one of ``choices`` (default :data:`BORDERS`); else a :class:`~lit_actmax.errors.ConfigError`."""
    if border not in choices:
        raise ConfigError(f"border must be one of {tuple(choices)}, not {border!r}.")
    return border


def _border_index(n: int, before: int, after: int, border: str, device: torch.device) -> torch.Tensor:
    """Source indices (before + n + after,) of a padded axis of length ``n``; any padding width works."""
    i = torch.arange(-before, n + after, device=device)
    check_border(border)
    if border == "symmetric":
        i = i % (2 * n)
        return torch.where(i >= n, 2 * n - 1 - i, i)
    if border == "reflect":
        if n == 1:
            return torch.zeros_like(i)
        i = i % (2 * n - 2)
        return torch.where(i >= n, 2 * n - 2 - i, i)
    if border == "replicate":
        return i.clamp(0, n - 1)
    return i % n  # circular


def pad2d(images: torch.Tensor, top: int, bottom: int, left: int, right: int, border: str = "symmetric") -> torch.Tensor:
    """Pad (N, C, H, W) by the given widths with a border mode of :data:`BORDERS` (widths may exceed the size)."""
    h, w = images.shape[-2:]
    rows = _border_index(h, top, bottom, border, images.device)
    cols = _border_index(w, left, right, border, images.device)
    return images.index_select(-2, rows).index_select(-1, cols)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """SciPy's normalized 1-D Gaussian: radius ``int(truncate * sigma + 0.5)``, float64 (2 * radius + 1,)."""
    if sigma <= 0:
        raise ConfigError(f"sigma must be positive, got {sigma}; use a callback schedule to switch blurring off.")
    radius = int(truncate * float(sigma) + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / float(sigma)) ** 2)
    return kernel / kernel.sum()


def _separable(images: torch.Tensor, ky: torch.Tensor, kx: torch.Tensor, border: str) -> torch.Tensor:
    """Correlate every channel of (N, C, H, W) with ``ky`` along H and ``kx`` along W (odd or even lengths)."""
    n, c, h, w = images.shape
    ry, rx = ky.numel(), kx.numel()
    x = pad2d(images, ry // 2, ry - 1 - ry // 2, rx // 2, rx - 1 - rx // 2, border)
    x = x.reshape(n * c, 1, *x.shape[-2:])
    x = F.conv2d(x, ky.to(x.device, x.dtype).view(1, 1, -1, 1))
    x = F.conv2d(x, kx.to(x.device, x.dtype).view(1, 1, 1, -1))
    return x.reshape(n, c, h, w)


def gaussian_blur(images: torch.Tensor, sigma: float = 1.0, truncate: float = 4.0, border: str = "symmetric") -> torch.Tensor:
    """Gaussian blur of each channel of (N, C, H, W) with standard deviation ``sigma`` pixels.

    With the defaults this equals ``scipy.ndimage.gaussian_filter(channel, sigma)``. The kernel sums to 1, so a
    constant image stays constant and (with a mirroring border) each channel keeps its mean up to border effects.
    """
    kernel = gaussian_kernel1d(sigma, truncate)
    return _separable(images, kernel, kernel, border)


def box_blur(images: torch.Tensor, size: int = 5, border: str = "reflect") -> torch.Tensor:
    """Mean over a ``size`` x ``size`` window of each channel of (N, C, H, W): OpenCV's ``cv2.blur``.

    The window is anchored at its centre (for an even ``size``: ``size // 2`` pixels before, the rest after).
    """
    if int(size) < 1:
        raise ConfigError(f"size must be at least 1 pixel, got {size}.")
    kernel = torch.full((int(size),), 1.0 / int(size), dtype=torch.float64)
    return _separable(images, kernel, kernel, border)


def bilateral_filter(
    images: torch.Tensor, diameter: int = 9, sigma_color: float = 0.1, sigma_space: float = 3.0,
    border: str = "reflect",
) -> torch.Tensor:
    """Edge-preserving smoothing of (N, C, H, W), as OpenCV's ``cv2.bilateralFilter`` computes it for floats.

    Each output pixel is the weighted mean of the pixels within ``diameter // 2`` (a disc; ``diameter <= 0``:
    radius ``round(1.5 * sigma_space)``), weight ``exp(-r² / (2 sigma_space²)) * exp(-d² / (2 sigma_color²))``
    with ``r`` the distance in pixels and ``d`` the sum over channels of absolute value differences. A small
    ``sigma_color`` keeps edges; a large one makes it a Gaussian blur over the disc. ``sigma_color`` is in the
    images' units (for [0, 1] images, 0.1 = a tenth of the range; OpenCV's examples use 0-255 units).
    """
    if sigma_color <= 0 or sigma_space <= 0:
        raise ConfigError(f"sigma_color and sigma_space must be positive, got {sigma_color} and {sigma_space}.")
    radius = int(diameter) // 2 if int(diameter) > 0 else int(round(1.5 * float(sigma_space)))
    radius = max(radius, 1)
    h, w = images.shape[-2:]
    padded = pad2d(images, radius, radius, radius, radius, border)
    color_coeff = -0.5 / float(sigma_color) ** 2
    total = torch.zeros_like(images)
    weights = torch.zeros_like(images[:, :1])
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            r2 = dy * dy + dx * dx
            if math.sqrt(r2) > radius:
                continue
            neighbour = padded[:, :, radius + dy:radius + dy + h, radius + dx:radius + dx + w]
            distance = (neighbour - images).abs().sum(1, keepdim=True)
            weight = math.exp(-0.5 * r2 / float(sigma_space) ** 2) * torch.exp(color_coeff * distance * distance)
            total = total + weight * neighbour
            weights = weights + weight
    return total / weights


def percentile(values: torch.Tensor, q: float) -> torch.Tensor:
    """Per-row ``q``-th percentile (0-100) of (N, M) values with linear interpolation (NumPy's default) -> (N,)."""
    if not 0 <= q <= 100:
        raise ConfigError(f"percentile must be between 0 and 100, got {q}.")
    ordered = values.sort(dim=1).values
    position = q / 100.0 * (values.shape[1] - 1)
    low = int(math.floor(position))
    high = min(low + 1, values.shape[1] - 1)
    frac = position - low
    return ordered[:, low] + frac * (ordered[:, high] - ordered[:, low])


def norm_crop(images: torch.Tensor, q: float = 30.0) -> torch.Tensor:
    """Zero the pixels of each (N, C, H, W) image whose norm over channels is below its ``q``-th percentile."""
    norms = images.norm(dim=1)  # (N, H, W)
    threshold = percentile(norms.flatten(1), q).view(-1, 1, 1)
    return images * (norms >= threshold).unsqueeze(1).to(images.dtype)


def contribution_crop(images: torch.Tensor, q: float = 30.0) -> torch.Tensor:
    """Zero the values of each (N, C, H, W) image whose absolute value is below its ``q``-th percentile
    (over all channels and pixels of that image)."""
    magnitude = images.abs()
    threshold = percentile(magnitude.flatten(1), q).view(-1, 1, 1, 1)
    return images * (magnitude >= threshold).to(images.dtype)


def affine_matrices(
    shift: torch.Tensor, degrees: torch.Tensor, zoom: torch.Tensor, size: Sequence[int] | None = None
) -> torch.Tensor:
    """Sampling matrices (N, 2, 3) for ``F.affine_grid`` (``align_corners=False``, see :func:`warp`) of the forward
    transform "translate by ``shift``, then rotate by ``degrees`` about the centre, then zoom by ``zoom`` about the
    centre".

    ``shift``: (N, 2) translations (x, y) as fractions of the image's width and height (0.5 moves the picture half
    its width to the right); ``degrees``: (N,) angles, counter-clockwise on screen (as OpenCV's and torchvision's);
    ``zoom``: (N,) magnifications (> 1 zooms in). ``size``: the images' (H, W), so that a rotation keeps right
    angles on non-square images; ``None`` rotates in normalized coordinates (the same on square images). The
    matrices are computed in the dtype of the inputs.
    """
    angle = degrees * (math.pi / 180.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # the inverse map (output -> input) in normalized coordinates: u_in = R(-angle) u_out / zoom - 2 shift; the
    # translation happens first in the forward map, so it comes last (unrotated) in the inverse
    a01, a10 = -sin, sin
    if size is not None:
        h, w = int(size[0]), int(size[1])
        a01, a10 = a01 * (h / w), a10 * (w / h)
    row0 = torch.stack([cos, a01, -2.0 * shift[:, 0]], dim=1)
    row1 = torch.stack([a10, cos, -2.0 * shift[:, 1]], dim=1)
    return torch.stack([row0, row1], dim=1)


#: Border modes of :func:`warp`: ``constant`` (a ``fill`` value), and those :data:`BORDERS` that sampling supports.
WARP_BORDERS = ("constant", "symmetric", "replicate")


def warp(
    images: torch.Tensor, theta: torch.Tensor, border: str = "constant", fill: float = 0.0, mode: str = "bilinear"
) -> torch.Tensor:
    """Resample (N, C, H, W) with per-image sampling matrices (N, 2, 3) (:func:`affine_matrices`); same output size.

    Where a position comes from outside the image, ``border`` (:data:`WARP_BORDERS`) decides its value:
    ``"constant"`` takes ``fill`` (0 = black, as OpenCV's ``warpAffine``), ``"replicate"`` the nearest edge
    pixel, ``"symmetric"`` the mirror image about the edge. ``mode``: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.
    """
    check_border(border, WARP_BORDERS)
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if border == "constant":
        fill = float(fill)
        return F.grid_sample(images - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
    padding_mode = "reflection" if border == "symmetric" else "border"  # grid_sample's names for these borders
    return F.grid_sample(images, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


@torch.no_grad()
def input_affine(preprocess: nn.Module, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)``, each (C,), such that ``preprocess(x) == scale * x + shift`` per channel.

    Raises ``ValueError`` when the preprocessing is not such a per-channel affine map (then there is no
    "normalized input space" to work in).
    """
    def run(values: Sequence[float]) -> torch.Tensor:
        x = torch.tensor(list(values), dtype=torch.float32).view(1, channels, 1, 1).expand(1, channels, 2, 2)
        out = preprocess(x.contiguous())
        if out.shape[:2] != (1, channels):
            raise ConfigError("The backbone's preprocessing changes the number of channels; use space='image'.")
        return out[0, :, 0, 0].float().cpu()

    shift = run([0.0] * channels)
    scale = run([1.0] * channels) - shift
    probe = torch.linspace(0.2, 0.8, channels).tolist()
    expected = scale * torch.tensor(probe) + shift
    if not torch.allclose(run(probe), expected, rtol=1e-4, atol=1e-5) or bool((scale == 0).any()):
        raise ConfigError(
            "The backbone's preprocessing is not an invertible per-channel affine map (x * scale + shift), so "
            "there is no normalized input space to work in; use space='image'."
        )
    return scale, shift


# -- used by the between-epoch callbacks (lit_actmax.callbacks): spaces, decay, growing -----------------------
def _channels(value: torch.Tensor | float, images: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=images.dtype, device=images.device)
    return t.view(1, -1, 1, 1) if t.dim() == 1 else t


def model_space(preprocess: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(center, step)`` (3,) of a per-channel affine preprocessing: the image whose model input is 0 (for
    ImageNet normalization, the mean colour) and the image change of one model-input unit (the std)."""
    scale, shift = input_affine(preprocess)
    return -shift / scale, 1.0 / scale


def to_space(images: torch.Tensor, center: torch.Tensor | float = 0.0, step: torch.Tensor | float = 1.0) -> torch.Tensor:
    """``(x - center) / step`` per channel (scalars or (C,)): e.g. RGB images -> the model's input space."""
    return (images - _channels(center, images)) / _channels(step, images)


def from_space(z: torch.Tensor, center: torch.Tensor | float = 0.0, step: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Inverse of :func:`to_space`."""
    return z * _channels(step, z) + _channels(center, z)


def decay(images: torch.Tensor, rate: float, center: torch.Tensor | float = 0.0) -> torch.Tensor:
    """L2 decay: ``center + (1 - rate) (x - center)`` (act_max_util: ``z * (1 - 0.1)`` in model space)."""
    c = _channels(center, images)
    return c + (1.0 - float(rate)) * (images - c)


def grown_size(size: Sequence[int], factor: float, max_size: int | None = None) -> tuple[int, int]:
    """``round(h * factor), round(w * factor)`` (``cv2.resize(fx=fy=factor)``), at least 1 pixel; the longer
    side capped at ``max_size`` (keeping the aspect ratio)."""
    h, w = max(1, int(round(int(size[0]) * factor))), max(1, int(round(int(size[1]) * factor)))
    if max_size is not None and max(h, w) > max_size:
        ratio = max_size / max(h, w)
        h, w = max(1, int(round(h * ratio))), max(1, int(round(w * ratio)))
    return h, w


def resize_images(images: torch.Tensor, size: Sequence[int], mode: str = "bicubic") -> torch.Tensor:
    """(N, C, H, W) -> (N, C, *size), antialiased when shrinking (``bilinear``/``bicubic``)."""
    size = (int(size[0]), int(size[1]))
    if tuple(images.shape[-2:]) == size:
        return images.clone()
    smooth = mode in ("bilinear", "bicubic")
    return F.interpolate(images, size=size, mode=mode, align_corners=False if smooth else None, antialias=smooth)


__all__ += ["model_space", "to_space", "from_space", "decay", "grown_size", "resize_images"]
