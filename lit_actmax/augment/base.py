"""The transform contract: ``(B, 3, H, W)`` images and one generator per image in, transformed images out; the
composition of transforms, and the seeded draws they take their random settings from.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["Transform", "Compose", "uniform", "choice", "per_row_generators"]


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One draw in [low, high) from ``generator``."""
    return low + (high - low) * float(torch.rand((), generator=generator))


def choice(generator: torch.Generator, values: Sequence[float]) -> float:
    """One element of ``values``, uniformly, from ``generator``."""
    return float(values[int(torch.randint(len(values), (), generator=generator))])


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
            generators = per_row_generators(images, generators)  # after MultiCrop: one generator per crop
        return images

    def __len__(self) -> int:
        return len(self.transforms)


def per_row_generators(images: torch.Tensor, generators: Sequence[torch.Generator]) -> list[torch.Generator]:
    """Generators for each row of ``images``: the same list, or, after a transform that made ``k`` views per
    image (e.g. :class:`MultiCrop`), ``k`` child generators per image, each seeded from its image's generator."""
    generators = list(generators)
    rows = images.shape[0]
    if rows == len(generators) or not generators:
        return generators
    if rows % len(generators):
        raise ConfigError(f"{rows} augmented images cannot be split among {len(generators)} source images.")
    k = rows // len(generators)
    children = []
    for g in generators:
        seeds = torch.randint(0, 2**62, (k,), generator=g)
        children.extend(torch.Generator().manual_seed(int(s)) for s in seeds)
    return children
