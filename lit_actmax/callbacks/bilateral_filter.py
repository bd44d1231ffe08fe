"""Edge-preserving smoothing of the current images between epochs (midnite's ``BilateralTransform``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError
from ..image.ops import bilateral_filter, check_border
from .schedule import ImageCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["BilateralFilter"]


class BilateralFilter(ImageCallback):
    """Bilateral filter (``cv2.bilateralFilter`` semantics, in torch on the images' device), every ``every`` epochs.

    ``diameter``: the neighbourhood's diameter in pixels; ``sigma_color``: colour tolerance in image units (sum of
    the absolute channel differences; images are in [0, 1]); ``sigma_space``: distance tolerance in pixels.
    midnite called OpenCV with ``(9, 75, 75)`` on float images in [0, 1]: a colour tolerance of 75 there mixes
    all colours, so its "bilateral" filter was a plain 9-pixel disk blur. ``configs/seeds`` keep those values;
    ``sigma_color`` about 0.1 makes the filter preserve edges.
    """

    def __init__(self, diameter: int = 9, sigma_color: float = 0.1, sigma_space: float = 3.0, every: int = 1,
                 start: int = 0, stop: int | None = None, on_last_epoch: bool = True, border: str = "reflect") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if sigma_color <= 0 or sigma_space <= 0:
            raise ConfigError(f"sigma_color and sigma_space must be positive, got {sigma_color} and {sigma_space}.")
        self.diameter, self.sigma_color, self.sigma_space = int(diameter), float(sigma_color), float(sigma_space)
        self.border = check_border(border)

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        return bilateral_filter(images, self.diameter, self.sigma_color, self.sigma_space, self.border)
