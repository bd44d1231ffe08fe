"""Blur the current images between epochs: ``GaussianBlur`` (act_max_util: sigma 1 every 4 steps) and
``BoxBlur`` (midnite's ``BlurTransform``: a 5 x 5 mean, ``cv2.blur``)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from ..image_ops import BORDERS, box_blur, gaussian_blur
from .schedule import ImageCallback

__all__ = ["GaussianBlur", "BoxBlur"]


def _check_padding(padding: str) -> str:
    if padding not in BORDERS:
        raise ValueError(f"padding must be one of {BORDERS}, not {padding!r}.")
    return padding


class GaussianBlur(ImageCallback):
    """Gaussian blur of every image, ``sigma`` in pixels, every ``every`` epochs (see :mod:`.schedule`).

    Equal to ``scipy.ndimage.gaussian_filter(x, sigma)`` per channel (kernel radius ``int(truncate sigma + 0.5)``,
    ``padding="symmetric"``), which is act_max_util's blur; it keeps each channel's mean. With
    ``steps_per_epoch=1``, ``GaussianBlur(1.0, every=4)`` blurs after steps 0, 4, 8, ... as act_max_util does.
    """

    def __init__(self, sigma: float = 1.0, every: int = 1, start: int = 0, stop: int | None = None,
                 on_last_epoch: bool = True, truncate: float = 4.0, padding: str = "symmetric") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}.")
        self.sigma, self.truncate, self.padding = float(sigma), float(truncate), _check_padding(padding)

    def apply(self, images: torch.Tensor, pl_module: pl.LightningModule) -> torch.Tensor:
        return gaussian_blur(images, self.sigma, self.truncate, self.padding)


class BoxBlur(ImageCallback):
    """Mean over a ``size`` x ``size`` window (``cv2.blur`` with its default ``BORDER_REFLECT_101`` border:
    ``padding="reflect"``): midnite's ``BlurTransform(blur_size=5)``."""

    def __init__(self, size: int = 5, every: int = 1, start: int = 0, stop: int | None = None,
                 on_last_epoch: bool = True, padding: str = "reflect") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if int(size) < 1:
            raise ValueError(f"size must be at least 1, got {size}.")
        self.size, self.padding = int(size), _check_padding(padding)

    def apply(self, images: torch.Tensor, pl_module: pl.LightningModule) -> torch.Tensor:
        return box_blur(images, self.size, self.padding)
