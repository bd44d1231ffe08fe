"""``UnitProgressBar``: progress counted in units rendered, with an ETA for the whole run.

Lightning's bar counts "Epoch 0..N" of ``steps_per_epoch`` batches, which means nothing to someone rendering units.
This bar counts the run's optimizer steps (every group's), so tqdm's remaining time is the whole run's, and says
which units are done::

    units 8/16 [group 2/2] step 17/128:  56%|███████████▎        | 00:21 elapsed, ETA 00:17, activation=3.21

The ``lit-actmax`` command uses it unless the Trainer has another progress bar or ``enable_progress_bar: false``;
from Python, pass it to the Trainer: ``pl.Trainer(callbacks=[UnitProgressBar()])``. With several processes it
shows global rank 0's share (every rank renders as many groups, in step).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from ..core.schedule import UnitSchedule
from ..lightning.package import Tqdm, TQDMProgressBar, pl

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["UnitProgressBar"]


class UnitProgressBar(TQDMProgressBar):
    """A :class:`~pytorch_lightning.callbacks.TQDMProgressBar` over the whole run of an ``ActMaxModule``.

    Args:
        refresh_rate: redraw every this many steps (0 hides the bar).
        process_position: line offset, as for ``TQDMProgressBar``.
    """

    BAR_FORMAT = "{desc}{percentage:3.0f}%|{bar:20}| {elapsed} elapsed, ETA {remaining}{postfix}"

    def __init__(self, refresh_rate: int = 1, process_position: int = 0) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=False)
        self._counted: UnitSchedule | None = None  # the schedule _units_before was counted for
        self._units_before: list[int] = [0]  # units finished before group g, per g (and after the last group)
        self._total_steps = self._start_step = 0
        self._start_text = "Training"  # what the bar says before the first step (Lightning's word for other modules)

    # -- what the bar says -----------------------------------------------------------------------------
    @staticmethod
    def _schedule(pl_module: pl.LightningModule) -> UnitSchedule | None:
        schedule = getattr(pl_module, "schedule", None)
        return schedule if isinstance(schedule, UnitSchedule) else None

    def describe(self, schedule: UnitSchedule, position: int) -> str:
        """The bar's text after ``position`` optimizer steps of the run (0 = none yet)."""
        if self._counted is not schedule:
            self._counted, self._units_before = schedule, [0]
            for items in schedule.groups:
                self._units_before.append(self._units_before[-1] + len({i.unit for i in items if i.saved}))
        steps = schedule.steps_per_unit
        group = min(max(position - 1, 0) // steps, schedule.num_groups - 1)
        step = position - group * steps
        done = self._units_before[group + 1] if step >= steps else self._units_before[group]
        ranks = f" per rank x{schedule.world_size}" if schedule.world_size > 1 else ""
        return (f"units {done}/{self._units_before[-1]}{ranks} [group {group + 1}/{schedule.num_groups}] "
                f"step {step}/{steps}")

    def _metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

    def _show(self, trainer: pl.Trainer, pl_module: ActMaxModule, position: int) -> None:
        schedule = self._schedule(pl_module)
        bar = self._train_progress_bar
        if schedule is None or bar is None or bar.disable:
            return
        bar.n = min(position, self._total_steps)
        bar.set_description(self.describe(schedule, position), refresh=False)
        bar.set_postfix(self._metrics(trainer, pl_module), refresh=False)
        bar.refresh()

    # -- Lightning hooks ----------------------------------------------------------------------------------
    @property
    @override
    def train_description(self) -> str:
        return self._start_text

    @override
    def init_train_tqdm(self) -> Tqdm:
        return Tqdm(desc=f"{self.train_description}: ", total=self._total_steps or None, initial=self._start_step,
                    position=2 * self.process_position, disable=self.is_disabled, leave=True, dynamic_ncols=True,
                    file=sys.stdout, smoothing=0, bar_format=self.BAR_FORMAT)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        schedule = self._schedule(pl_module)
        if schedule is not None:
            total = schedule.total_epochs * schedule.steps_per_epoch
            if trainer.max_steps is not None and trainer.max_steps >= 0:
                total = min(total, trainer.max_steps)
            # a resumed run starts at the steps already taken: the rate (and the ETA) counts this session's steps
            self._total_steps, self._start_step = total, min(trainer.global_step, total)
            self._start_text = self.describe(schedule, self._start_step)
        else:  # not an ActMaxModule: Lightning's bar
            self._total_steps, self._start_step, self._start_text = 0, 0, "Training"
        super().on_train_start(trainer, pl_module)

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: ActMaxModule, *_: Any) -> None:
        if self._schedule(pl_module) is None:
            super().on_train_epoch_start(trainer, pl_module)

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        schedule = self._schedule(pl_module)
        if schedule is None:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        position = trainer.current_epoch * schedule.steps_per_epoch + batch_idx + 1
        if self.is_enabled and (position % self.refresh_rate == 0 or position >= self._total_steps
                                or batch_idx + 1 == schedule.steps_per_epoch):
            self._show(trainer, pl_module, position)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        if self._schedule(pl_module) is None:
            super().on_train_epoch_end(trainer, pl_module)

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        schedule = self._schedule(pl_module)
        bar = self._train_progress_bar
        if schedule is not None and bar is not None and bar.n != min(trainer.global_step, self._total_steps):
            self._show(trainer, pl_module, trainer.global_step)  # a refresh_rate > 1 may have skipped the last step
        super().on_train_end(trainer, pl_module)
