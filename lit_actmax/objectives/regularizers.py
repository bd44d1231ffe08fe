"""Regularizers: penalties on the image, as objective terms to subtract.

Each returns ``weight * penalty`` per image, ``(B,)``, computed on the un-augmented image (B, 3, H, W) in
[0, 1]; penalties are means over pixels, so a weight means the same at every image size::

    objective = Channel("features.8") - TotalVariation(0.05) - L2(0.01)
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .base import Objective, RenderBatch

__all__ = ["Regularizer", "TotalVariation", "L1", "L2"]


class Regularizer(Objective):
    """A penalty on the image; ``weight`` scales it. Subtract it from an objective."""

    is_regularizer = True

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def penalty(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, batch: RenderBatch) -> torch.Tensor:
        if batch.image is None:
            raise ConfigError(f"{type(self).__name__} needs the image in the RenderBatch.")
        return self.weight * self.penalty(batch.image)

    def describe(self) -> str:
        return f"{type(self).__name__}({self.weight:g})"


class TotalVariation(Regularizer):
    """Mean absolute difference between neighbouring pixels (anisotropic TV, ``beta=1``), or its ``beta`` power."""

    def __init__(self, weight: float = 1.0, beta: float = 1.0) -> None:
        super().__init__(weight)
        self.beta = float(beta)

    def penalty(self, image: torch.Tensor) -> torch.Tensor:
        dy = (image[:, :, 1:, :] - image[:, :, :-1, :]).abs()
        dx = (image[:, :, :, 1:] - image[:, :, :, :-1]).abs()
        if self.beta != 1.0:
            dy, dx = dy.pow(self.beta), dx.pow(self.beta)
        return dy.flatten(1).mean(1) + dx.flatten(1).mean(1)


class L1(Regularizer):
    """Mean ``|x - constant|`` (default: distance from mid-grey)."""

    def __init__(self, weight: float = 1.0, constant: float = 0.5) -> None:
        super().__init__(weight)
        self.constant = float(constant)

    def penalty(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.constant).abs().flatten(1).mean(1)


class L2(Regularizer):
    """Mean ``(x - constant)^2`` (default: distance from mid-grey)."""

    def __init__(self, weight: float = 1.0, constant: float = 0.5) -> None:
        super().__init__(weight)
        self.constant = float(constant)

    def penalty(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.constant).pow(2).flatten(1).mean(1)
