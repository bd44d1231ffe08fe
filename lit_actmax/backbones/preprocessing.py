"""The preprocessing modules that map images (B, 3, H, W) in [0, 1] to a model's input."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .imagenet import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["Normalize", "ScaleShift"]


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel. (B, 3, H, W) in [0, 1] -> model input."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class ScaleShift(nn.Module):
    """``x * scale + shift``: e.g. EfficientNet-Lite's ``(255 x - 127) / 128``. (B, 3, H, W) in [0, 1]."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale = float(scale)
        self.shift = float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"scale={self.scale}, shift={self.shift}"
