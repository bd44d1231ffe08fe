"""The parameterization contract (:class:`ImageParam`) and what every parameterization shares: squashing raw values
into [0, 1] and back, Lucid's colour decorrelation, image sizes, and per-image random draws.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..image.ops import as_hw

__all__ = [
    "ImageParam",
    "COLOR_CORRELATION_SVD_SQRT",
    "decorrelated_to_rgb",
    "mix_channels",
    "ChannelMix",
    "rgb_to_decorrelated",
    "squash",
    "unsquash",
    "per_image_draws",
]

#: Square root of the colour correlation of ImageNet images (Lucid), columns normalized below.
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float32
)


def mix_channels(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W), (D, C) -> (N, D, H, W): ``out[:, d] = sum_c matrix[d, c] * t[:, c]``, as element-wise products and
    sums in a fixed order, each rounded once; the gradient to ``t`` is the same mix by the transposed matrix.

    Not a matmul: a BLAS picks its kernel by the batch's size (MKL's AVX2 path gave a lone image other bits than the
    same image in a batch, in the backward pass too); element-wise products and sums give every image the same bits
    in any batch, on any instruction set."""
    return ChannelMix.apply(t, matrix.to(device=t.device, dtype=t.dtype))


def _mixed(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """:func:`mix_channels`'s arithmetic, outside autograd."""
    rows = []
    for d in range(matrix.shape[0]):
        row = t[:, 0] * matrix[d, 0]
        for c in range(1, matrix.shape[1]):
            row = row + t[:, c] * matrix[d, c]
        rows.append(row)
    return torch.stack(rows, 1)


class ChannelMix(torch.autograd.Function):
    """:func:`mix_channels` with a backward pass of one mix (autograd of the element-wise form would build a
    full-size zero tensor for each of the C x D channel reads)."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(t if matrix.requires_grad else None, matrix)
        return _mixed(t, matrix)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        t, matrix = ctx.saved_tensors
        grad_t = _mixed(grad, matrix.t()) if ctx.needs_input_grad[0] else None
        grad_matrix = torch.einsum("ndhw,nchw->dc", grad, t) if ctx.needs_input_grad[1] else None
        return grad_t, grad_matrix


def decorrelated_to_rgb(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in decorrelated colour space -> correlated RGB (before the squashing); per image, the same bits
    in any batch (:func:`mix_channels`)."""
    return mix_channels(t, matrix)


def rgb_to_decorrelated(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`decorrelated_to_rgb`."""
    return mix_channels(t, torch.linalg.inv(matrix.double()))


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

    #: Whether the raw values are in Lucid's decorrelated colour space, mixed into RGB by the subclass's ``color``.
    decorrelate: bool = False

    def to_image(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) raw values -> images in [0, 1]: the colour mixing (with ``decorrelate``), then :func:`squash`."""
        if self.decorrelate:
            x = decorrelated_to_rgb(x, self.color)
        return squash(x, self.activation)

    def from_image(self, images: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Inverse of :meth:`to_image`: (N, 3, H, W) images in [0, 1] -> float32 raw values on ``device``."""
        x = unsquash(images.to(device, torch.float32), self.activation)
        if self.decorrelate:
            x = rgb_to_decorrelated(x, self.color)
        return x

    def reset(self, generators: Sequence[torch.Generator], size: int | Sequence[int]) -> None:
        """Initialize ``len(generators)`` images of ``size`` from their generators."""
        raise NotImplementedError

    def set_image(self, images: torch.Tensor) -> None:
        """Write (N, 3, H, W) images in [0, 1] into the parameters (H, W may differ from the current size)."""
        raise NotImplementedError

    @torch.no_grad()
    def resize(self, size: int | Sequence[int], mode: str = "bilinear") -> None:
        """Change the resolution to ``size``, keeping the picture."""
        size = as_hw(size)
        if size == self.size:
            return
        images = self.forward().float()
        resized = F.interpolate(images, size=size, mode=mode, align_corners=False, antialias=mode in ("bilinear", "bicubic"))
        self.set_image(resized.clamp(0, 1))


def per_image_draws(generators: Sequence[torch.Generator], shape: Sequence[int],
                    draw: Callable[..., torch.Tensor] = torch.randn) -> torch.Tensor:
    """(N, *shape) draws of ``draw`` (``torch.randn``: standard normal; ``torch.rand``: uniform in [0, 1)), image ``i``
    from ``generators[i]`` (on the CPU: device independent)."""
    return torch.stack([draw(*shape, generator=g) for g in generators]) if generators else torch.empty(0, *shape)
