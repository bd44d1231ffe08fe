"""The group cycle of an :class:`~lit_actmax.lightning.module.ActMaxModule`: the epochs of a run walk through groups of
units (:class:`~lit_actmax.core.schedule.UnitSchedule`); when the epoch enters a new group the old one is finished
(callbacks' ``on_units_finished``, then the writer) and the new one started (``on_units_started``); at the end global
rank 0 writes the index. The module's hooks call these; the plain work is the renderer's and the writer's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..callbacks.base import ActMaxCallback
from ..run.records import FinishedUnits
from ..run.summary import outputs_message, requested_images, run_summary
from .package import pl, rank_zero_info
from .rank_sync import rank_sync_of

if TYPE_CHECKING:
    from .module import ActMaxModule

__all__ = ["actmax_callbacks", "finish_group", "finish_run", "start_group", "step_is_shown", "sync_group", "write_index"]


def actmax_callbacks(trainer: pl.Trainer | None) -> list[ActMaxCallback]:
    """The Trainer's callbacks that hear about groups, in the Trainer's order (none without a Trainer)."""
    return [c for c in trainer.callbacks if isinstance(c, ActMaxCallback)] if trainer is not None else []


def start_group(module: ActMaxModule, index: int, size: Sequence[int] | None = None, reset_optimizer: bool = True) -> None:
    """Make group ``index``'s images (at ``size``: a resumed group's), then tell the callbacks."""
    module.group_index = index
    items = module.schedule.items_of(index)
    module.renderer.start(items, size)
    if reset_optimizer:
        module.reset_optimizer_state()
    module.group_finished = False
    for callback in actmax_callbacks(module.attached_trainer):
        callback.on_units_started(module.trainer, module, items)


def sync_group(module: ActMaxModule) -> None:
    """Finish the current group and start the one the current epoch belongs to, if they differ (also where Lightning
    skipped ``on_train_epoch_start``)."""
    group = module.schedule.group_of(module.current_epoch)
    if group != module.group_index:
        if not module.group_finished and module.group_index >= 0:
            finish_group(module)
        start_group(module, group)


def finish_group(module: ActMaxModule) -> FinishedUnits:
    """Hand the finished group to callbacks, then write its PNGs and records; ``steps_done`` counts the steps its
    images had (fewer when ``max_steps``/``max_time`` cut it short)."""
    trainer, steps = module.attached_trainer, module.schedule.steps_per_unit
    steps_done = trainer.global_step - module.group_index * steps if trainer is not None else steps  # earlier groups had all
    images, activations = module.renderer.final_images()
    finished = FinishedUnits.of(module.renderer.items, images, activations, min(max(int(steps_done), 0), steps))
    for callback in actmax_callbacks(trainer):
        callback.on_units_finished(module.trainer, module, finished)
    if module.writer is not None:
        module.writer.write_units(finished)
    module.group_finished, module.last_finished = True, finished
    return finished


def finish_run(module: ActMaxModule) -> None:
    """Write what the fit finished, once: the last group's units (also one cut short by ``max_steps``/``max_time``),
    then, once every rank has written its own, ``index.json`` and the grids (global rank 0), and say where they are.

    Called from ``on_train_end`` and again from ``on_fit_end``, where it does what Lightning's loop never got to: a
    resume from a checkpoint of the run's last epoch end finds the loop done and runs no ``on_train_end``, and a
    continued folder that holds every unit runs no epoch at all."""
    if module.run_finished:
        return
    trainer = module.trainer
    sync = rank_sync_of(trainer)
    if not module.group_finished and 0 <= module.group_index < module.schedule.num_groups:
        finish_group(module)
    sync.meet("units")  # every rank's units are on disk (a rank that failed or was lost stops every rank here)
    if module.writer is not None and trainer.is_global_zero:
        index = write_index(module)
        if module.nothing_left:
            rank_zero_info(f"Nothing left to render in {module.writer.run_dir}; wrote {index.name}.")
        else:
            rank_zero_info(outputs_message(json.loads(index.read_text()), module.writer.run_dir))
    sync.meet("index")  # no rank ends as finished before the index is written
    module.run_finished = True


def write_index(module: ActMaxModule) -> Path:
    """Write ``index.json`` (with the callbacks' ``index_entries``) and the per-layer grids from every rank's records
    (global rank 0)."""
    assert module.writer is not None
    entries: dict[str, Any] = {}
    for callback in actmax_callbacks(module.attached_trainer):
        entries.update(callback.index_entries())
    renderer, schedule = module.renderer, module.schedule
    summary = run_summary(module.spec, renderer, schedule, module.hparams)
    wanted = requested_images(renderer, module.requested, schedule.variants)
    return module.writer.write_index(summary, wanted, tile=min(128, renderer.size[0]), entries=entries)


def step_is_shown(module: ActMaxModule, batch_idx: int) -> bool:
    """Whether this step's ``activation``/``loss`` reach anyone: a progress bar, a logger write (every
    ``log_every_n_steps``) or the end of an epoch (for callbacks that monitor them). ``self.log`` costs about 0.5 ms
    per call, 1-2% of a CPU step, so steps nobody sees skip it; ``step_activations`` holds every step's."""
    trainer = module.attached_trainer
    if trainer is None:
        return True
    logged = bool(trainer.loggers) and (module.global_step + 1) % max(1, trainer.log_every_n_steps) == 0
    return trainer.progress_bar_callback is not None or logged or batch_idx + 1 >= module.schedule.steps_per_epoch
