"""Differentiable per-step augmentations, with randomness from one generator per image.

Each transform maps ``(B, 3, H, W)`` images in [0, 1] to transformed images on the same device, drawing its
random parameters for image ``b`` from ``generators[b]`` (CPU generators seeded per unit and step, see
:mod:`lit_actmax.seeding`), so an image's augmentation does not depend on the other images of its batch.

The default :func:`lucid_transforms` is Lucid's standard set: pad 12, jitter 8, random scale 0.9-1.1, random
rotation -10..10 degrees, jitter 4.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Transform",
    "Compose",
    "Pad",
    "Jitter",
    "RandomScale",
    "RandomRotate",
    "RandomAffine",
    "lucid_transforms",
    "affine_warp",
    "uniform",
    "choice",
]


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One draw in [low, high) from ``generator``."""
    return low + (high - low) * float(torch.rand((), generator=generator))


def choice(generator: torch.Generator, values: Sequence[float]) -> float:
    """One element of ``values``, uniformly, from ``generator``."""
    return float(values[int(torch.randint(len(values), (), generator=generator))])


def affine_warp(images: torch.Tensor, theta: torch.Tensor, fill: float = 0.5, mode: str = "bilinear") -> torch.Tensor:
    """Warp (B, C, H, W) by per-image affine matrices (B, 2, 3) in normalized coordinates, output same size.

    Positions that come from outside the image take the value ``fill``.
    """
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill


class Transform(nn.Module):
    """Base class: ``forward(images, generators) -> images``."""

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        raise NotImplementedError


class Compose(Transform):
    """Apply transforms in order; each draws from the same per-image generators in turn."""

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        for transform in self.transforms:
            images = transform(images, generators)
        return images

    def __len__(self) -> int:
        return len(self.transforms)


class Pad(Transform):
    """Pad every side by ``pad`` pixels of constant ``fill`` (or ``mode="reflect"``/``"replicate"``)."""

    def __init__(self, pad: int = 12, fill: float = 0.5, mode: str = "constant") -> None:
        super().__init__()
        self.pad, self.fill, self.mode = int(pad), float(fill), mode

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.pad <= 0:
            return images
        if self.mode == "constant":
            return F.pad(images, [self.pad] * 4, mode="constant", value=self.fill)
        return F.pad(images, [self.pad] * 4, mode=self.mode)


class Jitter(Transform):
    """Random crop of size (H - d, W - d) at an offset in [0, d] per image and axis (Lucid's ``jitter(d)``)."""

    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.d = int(d)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.d <= 0:
            return images
        b, _, h, w = images.shape
        oy = torch.tensor([int(torch.randint(self.d + 1, (), generator=g)) for g in generators])
        ox = torch.tensor([int(torch.randint(self.d + 1, (), generator=g)) for g in generators])
        rows = (oy.view(-1, 1) + torch.arange(h - self.d).view(1, -1)).to(images.device)  # (B, h')
        cols = (ox.view(-1, 1) + torch.arange(w - self.d).view(1, -1)).to(images.device)  # (B, w')
        batch = torch.arange(b, device=images.device).view(-1, 1, 1)
        out = images.permute(0, 2, 3, 1)[batch, rows.unsqueeze(-1), cols.unsqueeze(1)]  # (B, h', w', C)
        return out.permute(0, 3, 1, 2)


def _theta(scale: torch.Tensor, angle_deg: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(B,) zoom factors, (B,) angles and (B, 2) normalized shifts -> (B, 2, 3) sampling matrices."""
    angle = angle_deg * (math.pi / 180.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    row0 = torch.stack([cos, -sin, shift[:, 0]], dim=1)
    row1 = torch.stack([sin, cos, shift[:, 1]], dim=1)
    return torch.stack([row0, row1], dim=1)


class RandomAffine(Transform):
    """Random zoom, rotation and translation per image in one warp, output the same size.

    ``scales``: zoom factors to choose from (>1 zooms in); ``degrees``: angles to choose from; ``shift``:
    largest translation as a fraction of the image side. Outside samples take ``fill``.
    """

    def __init__(
        self, scales: Sequence[float] = (1.0,), degrees: Sequence[float] = (0.0,), shift: float = 0.0, fill: float = 0.5,
    ) -> None:
        super().__init__()
        self.scales, self.degrees = [float(s) for s in scales], [float(d) for d in degrees]
        self.shift, self.fill = float(shift), float(fill)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        scale = torch.tensor([choice(g, self.scales) for g in generators])
        angle = torch.tensor([choice(g, self.degrees) for g in generators])
        shift = torch.tensor([[uniform(g, -self.shift, self.shift) * 2 for _ in range(2)] for g in generators]).view(-1, 2)
        if bool((scale == 1).all() and (angle == 0).all() and (shift == 0).all()):
            return images
        return affine_warp(images, _theta(scale, angle, shift), fill=self.fill)


class RandomScale(RandomAffine):
    """Random zoom per image, chosen from ``scales`` (Lucid: 0.90, 0.92, ..., 1.10); same output size."""

    def __init__(self, scales: Sequence[float] = tuple(1 + (i - 5) / 50 for i in range(11)), fill: float = 0.5) -> None:
        super().__init__(scales=scales, fill=fill)


class RandomRotate(RandomAffine):
    """Random rotation per image, chosen from ``degrees`` (Lucid: -10..10, with extra weight on 0)."""

    def __init__(self, degrees: Sequence[float] = tuple(range(-10, 11)) + (0,) * 5, fill: float = 0.5) -> None:
        super().__init__(degrees=degrees, fill=fill)


def lucid_transforms() -> Compose:
    """Lucid's standard transforms: pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees, jitter 4."""
    return Compose([Pad(12), Jitter(8), RandomScale(), RandomRotate(), Jitter(4)])
