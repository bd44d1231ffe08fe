"""Resume exactly: replay the epoch boundary that Lightning skips after a checkpoint taken at an epoch's last batch.

A checkpoint written from ``on_train_batch_end`` of an epoch's *last* batch (``ModelCheckpoint(every_n_train_steps=k)``,
a SLURM requeue signal) holds the loop state "last batch done, epoch end not yet run". Resuming from it, Lightning
2.6 moves straight on to the next epoch and calls neither ``on_train_epoch_end`` of the finished epoch nor
``on_train_epoch_start`` of the next one (verified here). Between-epoch callbacks (blur, resize) and the group
transitions of :class:`~lit_actmax.lightning.module.ActMaxModule` live in exactly those hooks, so the resumed images would
differ from an uninterrupted run. :func:`replay_epoch_boundary` calls them once, before the first resumed batch.
Checkpoints written at epoch end, or in the middle of an epoch, resume without help.
"""

from __future__ import annotations

from typing import Any

from .package import call, pl

__all__ = ["skipped_epoch_boundary", "replay_epoch_boundary"]


def skipped_epoch_boundary(checkpoint: dict[str, Any]) -> bool:
    """True if ``checkpoint`` was written after an epoch's last batch but before that epoch's end hooks."""
    loop = checkpoint.get("loops", {}).get("fit_loop", {})
    batches = loop.get("epoch_loop.batch_progress", {})
    epochs = loop.get("epoch_progress", {}).get("total", {})
    current = batches.get("current", {})
    if not (batches.get("is_last_batch") and current and epochs):
        return False
    last_batch_unfinished = current["processed"] == current["ready"] and current["completed"] == current["ready"] - 1
    epoch_unfinished = epochs["started"] == epochs["ready"] and epochs["processed"] == epochs["started"] - 1
    return bool(last_batch_unfinished and epoch_unfinished)


def replay_epoch_boundary(trainer: "pl.Trainer") -> None:
    """Call the skipped ``on_train_epoch_end`` (of the previous epoch) and, unless that was the fit's last epoch,
    ``on_train_epoch_start`` hooks.

    Call it once, from ``on_train_start`` or the first ``on_train_batch_start`` after such a resume. During the
    end hooks ``trainer.current_epoch`` reads the finished epoch, as it did in the uninterrupted run. Monitoring
    callbacks (``ModelCheckpoint``) are not replayed: the checkpoint being resumed from is their save for this step.
    After the last epoch no epoch starts: the fit ends (``on_train_end`` writes the last group).
    """
    progress = trainer.fit_loop.epoch_progress.current
    progress.completed -= 1
    try:
        call._call_callback_hooks(trainer, "on_train_epoch_end", monitoring_callbacks=False)
        call._call_lightning_module_hook(trainer, "on_train_epoch_end")
    finally:
        progress.completed += 1
    if trainer.max_epochs is not None and 0 <= trainer.max_epochs <= trainer.current_epoch:
        return
    call._call_callback_hooks(trainer, "on_train_epoch_start")
    call._call_lightning_module_hook(trainer, "on_train_epoch_start")
