"""Blur the current images between epochs: ``GaussianBlur`` (act_max_util: sigma 1 every 4 steps) and
``BoxBlur`` (midnite's ``BlurTransform``: a 5 x 5 mean, ``cv2.blur``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError
from ..image.ops import box_blur, check_border, gaussian_blur
from .schedule import ImageCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["GaussianBlur", "BoxBlur"]


class GaussianBlur(ImageCallback):
    """Gaussian blur of every image, ``sigma`` in pixels, every ``every`` epochs (see :mod:`.schedule`).

    Equal to ``scipy.ndimage.gaussian_filter(x, sigma)`` per channel (kernel radius ``int(truncate sigma + 0.5)``,
    ``border="symmetric"``), which is act_max_util's blur; it keeps each channel's mean. With
    ``steps_per_epoch=1``, ``GaussianBlur(1.0, every=4)`` blurs after steps 0, 4, 8, ... as act_max_util does.
    """

    def __init__(self, sigma: float = 1.0, every: int = 1, start: int = 0, stop: int | None = None,
                 on_last_epoch: bool = True, truncate: float = 4.0, border: str = "symmetric") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if sigma <= 0:
            raise ConfigError(f"sigma must be positive, got {sigma}.")
        self.sigma, self.truncate, self.border = float(sigma), float(truncate), check_border(border)

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        return gaussian_blur(images, self.sigma, self.truncate, self.border)


class BoxBlur(ImageCallback):
    """Mean over a ``size`` x ``size`` window (``cv2.blur`` with its default ``BORDER_REFLECT_101`` border:
    ``border="reflect"``): midnite's ``BlurTransform(blur_size=5)``."""

    def __init__(self, size: int = 5, every: int = 1, start: int = 0, stop: int | None = None,
                 on_last_epoch: bool = True, border: str = "reflect") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if int(size) < 1:
            raise ConfigError(f"size must be at least 1, got {size}.")
        self.size, self.border = int(size), check_border(border)

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        return box_blur(images, self.size, self.border)
