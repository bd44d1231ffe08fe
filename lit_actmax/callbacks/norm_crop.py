"""Norm crop between epochs (Yosinski et al. 2015; act_max_util's ``norm_crop``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError
from ..image.ops import norm_crop, to_space
from .schedule import ImageCallback, check_space, space_of

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["NormCrop", "PercentileCrop"]


class PercentileCrop(ImageCallback):
    """Base of the crops: set to the zero of ``space`` (model space: the mean colour) what ``crop`` zeroes in
    that space, every ``every`` epochs; ``percentile`` in [0, 100]."""

    def __init__(self, percentile: float = 30.0, every: int = 1, start: int = 0, stop: int | None = None,
                 on_last_epoch: bool = True, space: str = "model") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if not 0 <= percentile <= 100:
            raise ConfigError(f"percentile must be in [0, 100], got {percentile}.")
        self.percentile, self.space = float(percentile), check_space(space)

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in ``space`` -> the same with the cropped values set to 0."""
        raise NotImplementedError

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        center, step = space_of(self.space, pl_module)
        cut = self.crop(to_space(images, center, step)) == 0  # cropped (or already at the centre)
        return torch.where(cut, center.view(1, -1, 1, 1).to(images.dtype).expand_as(images), images)


class NormCrop(PercentileCrop):
    """Set to the zero of ``space`` (model space: the mean colour) every pixel whose colour norm is below the
    image's ``percentile`` (0-100) of pixel norms, every ``every`` epochs. act_max_util: 30, after every step."""

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        return norm_crop(images, self.percentile)
