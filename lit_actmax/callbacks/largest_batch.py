"""Choose the largest batch of units that fits memory, before the module splits its units into groups."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from typing_extensions import override

from ..core.batch_size import largest_batch_size
from ..errors import ConfigError
from ..lightning.package import pl, rank_zero_info
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["LargestBatch"]


class LargestBatch(ActMaxCallback):
    """Set the module's batch size to the largest that fits memory (see :mod:`lit_actmax.core.batch_size`).

    Args:
        memory_fraction: share of the free memory a step may use (the rest is headroom).
        max_batch_size: upper bound (no point in a batch larger than a rank's units).
        memory_gb: budget in GiB instead of the measured free memory (e.g. for a shared node).

    With several processes every rank measures, then all take the smallest choice, so ranks stay in step. On
    resume the module keeps the checkpoint's batch size, whatever this picks.

    Raises:
        ConfigError: ``memory_fraction`` outside (0, 1], or not even one unit's images fit.
    """

    def __init__(self, memory_fraction: float = 0.8, max_batch_size: int = 1024, memory_gb: float | None = None) -> None:
        super().__init__()
        if not 0 < memory_fraction <= 1:
            raise ConfigError(f"memory_fraction must be in (0, 1], got {memory_fraction}.")
        self.memory_fraction, self.max_batch_size, self.memory_gb = memory_fraction, int(max_batch_size), memory_gb
        self.chosen: int | None = None

    @override
    def setup(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        if stage != "fit":
            return
        device = trainer.strategy.root_device
        pl_module.to(device)
        schedule = pl_module.schedule
        units_per_rank = math.ceil(len(schedule.units) / trainer.world_size) * schedule.variants
        budget = int(self.memory_gb * 2**30) if self.memory_gb is not None else None
        deepest = sorted(schedule.keys, key=lambda key: -key[0])  # (target, unit): the deepest layer costs most
        n = largest_batch_size(pl_module.renderer, pl_module.optimizer_factory, deepest, schedule.variants, budget,
                               self.memory_fraction, min(self.max_batch_size, units_per_rank),
                               trainer.strategy.precision_plugin)
        n = int(trainer.strategy.all_gather(torch.tensor(n, device=device)).min())
        self.chosen = n
        pl_module.schedule = schedule.with_batch_size(n)
        pl_module.hparams["batch_size"] = n
        rank_zero_info(f"LargestBatch: batch_size={n} images per step on {device} (memory_fraction={self.memory_fraction}).")
