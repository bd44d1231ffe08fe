"""L2 decay of the current images between epochs (Yosinski et al. 2015; act_max_util: ``x *= 1 - 0.1``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError
from ..image.ops import decay
from .schedule import ImageCallback, check_space, space_of

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["L2Decay"]


class L2Decay(ImageCallback):
    """Shrink every image towards the zero of its ``space`` by a factor ``1 - rate``, every ``every`` epochs.

    ``space="model"`` (default; act_max_util): the backbone's input space, whose 0 is the dataset mean colour, so
    the image decays towards that colour; ``space="image"``: towards mid-grey. Unlike an optimizer's weight decay,
    this acts on the image whatever the parameterization and whatever the optimizer.
    """

    def __init__(self, rate: float = 0.1, every: int = 1, start: int = 0, stop: int | None = None,
                 on_last_epoch: bool = True, space: str = "model") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if not 0 <= rate <= 1:
            raise ConfigError(f"rate must be in [0, 1], got {rate}.")
        self.rate, self.space = float(rate), check_space(space)

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        center, _ = space_of(self.space, pl_module)
        return decay(images, self.rate, center)
