"""``RunCheckpoint``: checkpoints live in the run folder, and Ctrl-C leaves a checkpoint and an index.

:class:`~lit_actmax.lightning.module.ActMaxModule` adds it to every Trainer it is fit with (``configure_callbacks``).

- **Where checkpoints go.** A ``ModelCheckpoint`` without a ``dirpath`` (Lightning's default one included) writes
  into ``<run folder>/checkpoints`` instead of the working directory, and keeps ``last.ckpt`` unless its
  ``save_last`` was set. The run folder is known only after the module's ``setup`` (rank 0 makes it and broadcasts
  it) and may change on resume (the original one is adopted), so the folder is set on load and at ``on_fit_start``;
  which ``ModelCheckpoint`` had no ``dirpath`` is noted in ``setup``, before Lightning resolves its default (the
  Trainer keeps ``ModelCheckpoint`` callbacks last).
- **Ctrl-C.** The first Ctrl-C during training is deferred to the end of the current optimizer step (a second one
  interrupts at once); then the fit stops with ``KeyboardInterrupt`` and, in ``on_exception``, a single-process
  run saves a checkpoint (``last.ckpt``, or ``interrupted.ckpt`` when the ``ModelCheckpoint`` keeps no last one)
  at that step, from which a resume ends on the uninterrupted images, and global rank 0 writes ``index.json`` of
  the units finished so far (the group being optimized is not finished and not listed). Several processes stop
  at different steps, so they save no new checkpoint: the last periodic one stays the one to resume from.
  Nothing is saved when checkpointing is disabled (``enable_checkpointing=False``); the index is still written.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_warn
from typing_extensions import override

from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["RunCheckpoint", "image_callbacks", "CHECKPOINT_FOLDER"]

#: The run folder's subfolder that checkpoints go to by default.
CHECKPOINT_FOLDER = "checkpoints"
_DEFAULTED = "_actmax_default_dirpath"  # marks a ModelCheckpoint whose folder this callback chose
RECORDS = "images/*/unit_*.json"  # the per-unit records of a run folder (lit_actmax.run.records.iter_records)


def image_callbacks(callbacks: Sequence[pl.Callback]) -> list[ActMaxCallback]:
    """The callbacks that change the images (``ActMaxCallback.changes_images``: between-epoch image callbacks, ReLU
    redirection, per-unit gradient norms), in the Trainer's order: part of a run's fingerprint."""
    return [c for c in callbacks if isinstance(c, ActMaxCallback) and c.changes_images]


class RunCheckpoint(ActMaxCallback):
    """Default checkpoint folder ``<run folder>/checkpoints`` and a checkpoint + ``index.json`` on Ctrl-C (see the
    module docstring). It keeps no state."""

    def __init__(self) -> None:
        super().__init__()
        self._defaulted: list[ModelCheckpoint] = []
        self._interrupt_requested = False
        self._previous_handler: Any = None
        self._training = False
        self._speaks = True  # global rank 0 says that it stops

    # -- where checkpoints go ----------------------------------------------------------------------------
    @override
    def setup(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        if stage != "fit":
            return
        self._defaulted = [c for c in trainer.checkpoint_callbacks
                           if isinstance(c, ModelCheckpoint) and (c.dirpath is None or getattr(c, _DEFAULTED, False))]
        for callback in self._defaulted:
            setattr(callback, _DEFAULTED, True)

    @override
    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: ActMaxModule, checkpoint: dict[str, Any]) -> None:
        self._point_to_run(pl_module)  # before ModelCheckpoint compares its folder with the checkpoint's

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self._point_to_run(pl_module)

    def _point_to_run(self, pl_module: ActMaxModule) -> None:
        run_dir = pl_module.run_dir
        if run_dir is None:
            return
        for callback in self._defaulted:
            callback.dirpath = str(Path(run_dir).absolute() / CHECKPOINT_FOLDER)
            if callback.save_last is None:
                callback.save_last = True

    # -- Ctrl-C -----------------------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self._training, self._interrupt_requested, self._speaks = True, False, trainer.is_global_zero
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous_handler = signal.signal(signal.SIGINT, self._defer_interrupt)

    def _defer_interrupt(self, signum: int, frame: Any) -> None:
        """The first Ctrl-C: finish the optimizer step, then stop (the next one stops at once)."""
        self._interrupt_requested = True
        self._restore_handler()
        if self._speaks:
            sys.stderr.write("\nlit-actmax: stopping after this step (Ctrl-C again to stop at once) ...\n")

    def _restore_handler(self) -> None:
        if self._previous_handler is not None and signal.getsignal(signal.SIGINT) == self._defer_interrupt:
            signal.signal(signal.SIGINT, self._previous_handler)
        self._previous_handler = None

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self._interrupt_requested:
            self._interrupt_requested = False
            raise KeyboardInterrupt  # Lightning turns it into on_exception (below), then exits with code 1

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self._training = False
        self._restore_handler()

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        self._restore_handler()

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: ActMaxModule, exception: BaseException) -> None:
        self._restore_handler()
        training, self._training = self._training, False
        if not isinstance(exception, KeyboardInterrupt) or not training:
            return
        try:
            saved = self._save_interrupted(trainer, pl_module)
            index = None
            if pl_module.writer is not None and trainer.is_global_zero and (saved or _has_records(pl_module.writer.run_dir)):
                index = pl_module.write_index()
        except Exception as error:  # noqa: BLE001 - the interrupt, not this, is what the user must see
            rank_zero_warn(f"The interrupted run could not be saved ({type(error).__name__}: {error}).")
            return
        callback = trainer.checkpoint_callback
        last = saved or (getattr(callback, "last_model_path", "") if isinstance(callback, ModelCheckpoint) else "")
        if trainer.is_global_zero and (last or index):
            finished = f"the finished units are listed in {index}" if index else "no unit was finished"
            where = f"; resume with ckpt_path {last}" if last else ""
            sys.stderr.write(f"lit-actmax: interrupted: {finished}{where}.\n")

    def _save_interrupted(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> Path | None:
        """Save the interrupted state (one process, checkpointing on, not in the middle of a step)."""
        callback = trainer.checkpoint_callback
        if not isinstance(callback, ModelCheckpoint) or trainer.world_size > 1:
            return None
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        if progress.started > progress.processed:  # inside training_step/backward/optimizer.step: half a step
            rank_zero_warn("Interrupted in the middle of an optimizer step: no checkpoint saved; resume from the last "
                           "one saved.")
            return None
        folder = Path(callback.dirpath) if callback.dirpath else (
            Path(pl_module.run_dir) / CHECKPOINT_FOLDER if pl_module.run_dir else Path(trainer.default_root_dir))
        name = callback.CHECKPOINT_NAME_LAST if callback.save_last else "interrupted"
        path = folder.absolute() / f"{name}{callback.FILE_EXTENSION}"
        trainer.save_checkpoint(path, weights_only=False)
        return path


def _has_records(run_dir: Path) -> bool:
    """Whether a unit was finished in ``run_dir`` (its record is written with its PNG)."""
    return next(iter(Path(run_dir).glob(RECORDS)), None) is not None
