"""Contribution crop between epochs (act_max_util's ``abs_contrib_crop``)."""

from __future__ import annotations

import torch

from ..image.ops import contribution_crop
from .norm_crop import PercentileCrop

__all__ = ["ContributionCrop"]


class ContributionCrop(PercentileCrop):
    """Set to the zero of ``space`` every value (pixel and channel) whose magnitude there is below the image's
    ``percentile`` (0-100) of magnitudes, every ``every`` epochs. act_max_util: 30, after every step.

    As in act_max_util, the "contribution" is the value's magnitude in model space; Yosinski et al. define it
    as activation times gradient, which act_max_util does not compute.
    """

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        return contribution_crop(images, self.percentile)
