"""``KeepImages``: every finished image of the run, in memory, for notebooks and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from typing_extensions import override

from ..lightning.package import pl
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule
    from ..run.records import FinishedUnits

__all__ = ["KeepImages"]


class KeepImages(ActMaxCallback):
    """Keep each finished image (3, H, W) in [0, 1] on the CPU, keyed by ``(unit, variant, target)`` (target: the
    layer's index in a run of units across layers, else 0); a rank's padding images are skipped.
    ``module.last_finished`` holds only the last group; this holds the whole run (of this rank).
    """

    def __init__(self) -> None:
        self.images: dict[tuple[int, int, int], torch.Tensor] = {}

    @property
    def unit_images(self) -> dict[int, torch.Tensor]:
        """``{unit: image}`` of variant 0 of every unit (of target 0: the objective of a one-objective run)."""
        return self.target_images(0)

    def target_images(self, target: int) -> dict[int, torch.Tensor]:
        """``{unit: image}`` of variant 0 of every unit of ``target``."""
        return {unit: image for (unit, variant, t), image in self.images.items() if variant == 0 and t == target}

    @override
    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        for i, (saved, image) in enumerate(zip(finished.valid, finished.images)):
            if saved:
                self.images[finished.key(i)] = image.detach().cpu().clone()
