"""``RunCheckpoint``: checkpoints live in the run folder, and a stopped fit leaves a checkpoint, an index and a sentence.

:class:`~lit_actmax.lightning.module.ActMaxModule` adds it to every Trainer it is fit with (``configure_callbacks``).

- **Where checkpoints go.** A ``ModelCheckpoint`` without a ``dirpath`` (Lightning's default one included) writes
  into ``<run folder>/checkpoints`` instead of the working directory, and keeps ``last.ckpt`` unless its
  ``save_last`` was set. The run folder is known only after the module's ``setup`` (rank 0 makes it and broadcasts
  it) and may change on resume (the original one is adopted), so the folder is set on load and at ``on_fit_start``;
  which ``ModelCheckpoint`` had no ``dirpath`` is noted in ``setup``, before Lightning resolves its default (the
  Trainer keeps ``ModelCheckpoint`` callbacks last).
- **A stopped fit.** Ctrl-C and SIGTERM stop the fit at the end of an optimizer step, the same one on every rank
  (:class:`~lit_actmax.callbacks.stop_signals.StopSignals`). Then, in ``on_exception``, the ranks save one
  checkpoint together (``last.ckpt``, or ``interrupted.ckpt`` when the ``ModelCheckpoint`` keeps no last one) in
  the loop state of a ``ModelCheckpoint`` at batch end, from which a resume ends on the uninterrupted images;
  global rank 0 writes ``index.json`` of the units finished so far (the group being optimized is not finished and
  not listed) and says in one sentence what was saved and how to continue. A SIGTERM ends the process with
  :data:`~lit_actmax.exits.EXIT_PREEMPTED` (also one that Lightning's own handler turned into its exit-code-0
  ``SIGTERMException``). No checkpoint is saved when checkpointing is disabled (``enable_checkpointing=False``), in
  a continued folder (``run_dir``: running the command again continues it), in the middle of a step (a second
  signal) or when the ranks did not stop together; the index is still written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from typing_extensions import override

from ..exits import EXIT_PREEMPTED, Preempted
from ..lightning.package import ModelCheckpoint, pl, rank_zero_warn
from ..run.files import read_json
from ..run.storage import Location, location
from .base import ActMaxCallback
from .stop_signals import Interrupted

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["RunCheckpoint", "image_callbacks", "CHECKPOINT_FOLDER"]

#: The run folder's subfolder that checkpoints go to by default.
CHECKPOINT_FOLDER = "checkpoints"
#: The name of the checkpoint a stopped fit saves when its ModelCheckpoint keeps no ``last.ckpt``.
INTERRUPTED = "interrupted"
_DEFAULTED = "_actmax_default_dirpath"  # marks a ModelCheckpoint whose folder this callback chose
RECORDS = "images/*/unit_*.json"  # the per-unit records of a run folder (lit_actmax.run.records.iter_records)


def image_callbacks(callbacks: Sequence[pl.Callback]) -> list[ActMaxCallback]:
    """The callbacks that change the images (``ActMaxCallback.changes_images``: between-epoch image callbacks, ReLU
    redirection, per-unit gradient norms), in the Trainer's order: part of a run's fingerprint."""
    return [c for c in callbacks if isinstance(c, ActMaxCallback) and c.changes_images]


class RunCheckpoint(ActMaxCallback):
    """Default checkpoint folder ``<run folder>/checkpoints``; a checkpoint, ``index.json`` and a sentence when the fit
    is stopped (see the module docstring). It keeps no state."""

    def __init__(self) -> None:
        super().__init__()
        self._defaulted: list[ModelCheckpoint] = []
        self._training = False

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
            callback.dirpath = str(run_dir.absolute() / CHECKPOINT_FOLDER)
            if callback.save_last is None:
                callback.save_last = True

    # -- a stopped fit ----------------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self._training = True

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self._training = False

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        """A run that ends complete after resuming from ``interrupted.ckpt`` removes it: nothing is left to resume."""
        resumed = location(str(trainer.ckpt_path or ""))
        if stage == "fit" and resumed.name == f"{INTERRUPTED}.ckpt" and pl_module.run_finished and trainer.is_global_zero:
            resumed.unlink(missing_ok=True)

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: ActMaxModule, exception: BaseException) -> None:
        preempted = isinstance(exception, SystemExit) and (
            isinstance(exception, Preempted) or isinstance(exception, pl.utilities.exceptions.SIGTERMException))
        if preempted and not exception.code:  # Lightning's own SIGTERM handling ends with exit code 0
            exception.code = EXIT_PREEMPTED
        training, self._training = self._training, False
        if not (preempted or isinstance(exception, KeyboardInterrupt)) or not training:
            return
        together = isinstance(exception, Interrupted) or getattr(exception, "every_rank", False)
        try:
            saved = self._save_stopped(trainer, pl_module, together)
            index = None
            if pl_module.writer is not None and trainer.is_global_zero and (saved or _has_records(pl_module.writer.run_dir)):
                index = pl_module.write_index()
        except Exception as error:  # noqa: BLE001 - the stop, not this, is what the user must see
            rank_zero_warn(f"The stopped run could not be saved ({type(error).__name__}: {error}).")
            return
        if trainer.is_global_zero:
            sys.stderr.write(f"lit-actmax: {stop_sentence(trainer, pl_module, preempted, saved, index)}\n")

    def _save_stopped(self, trainer: pl.Trainer, pl_module: ActMaxModule, together: bool) -> Location | None:
        """Save the stopped state (checkpointing on, no continued folder, every rank at the same step, not in the
        middle of a step), on every rank together."""
        callback = trainer.checkpoint_callback
        if not isinstance(callback, ModelCheckpoint) or pl_module.continued_dir is not None:
            return None
        if trainer.world_size > 1 and not together:
            return None
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        if progress.started > progress.processed:  # inside training_step/backward/optimizer.step: half a step
            rank_zero_warn("Stopped in the middle of an optimizer step: no checkpoint saved; resume from the last "
                           "one saved.")
            return None
        folder = location(callback.dirpath) if callback.dirpath else (
            pl_module.run_dir / CHECKPOINT_FOLDER if pl_module.run_dir else location(trainer.default_root_dir))
        name = callback.CHECKPOINT_NAME_LAST if callback.save_last else INTERRUPTED
        path = folder.absolute() / f"{name}{callback.FILE_EXTENSION}"
        trainer.save_checkpoint(path if isinstance(path, Path) else str(path), weights_only=False)
        return path


def stop_sentence(trainer: pl.Trainer, pl_module: ActMaxModule, preempted: bool, saved: Location | None,
                  index: Location | None) -> str:
    """What a stopped fit says: why it stopped, where the finished units are listed, and how to continue."""
    callback = trainer.checkpoint_callback
    last = saved or (getattr(callback, "last_model_path", "") if isinstance(callback, ModelCheckpoint) else "")
    why = f"stopped by SIGTERM (exit code {EXIT_PREEMPTED})" if preempted else "interrupted"
    listed = len(read_json(index).get("units", [])) if index else 0
    finished = f"the {listed} finished image(s) are listed in {index}" if listed else "no unit was finished yet"
    if pl_module.continued_dir is not None:
        how = "; run the same command again to render the rest (finished units are kept)"
    elif last:
        how = f"; resume with ckpt_path {last}"
    else:
        how = "; no checkpoint to resume from (checkpointing is off)"
    return f"{why}: {finished}{how}."


def _has_records(run_dir: Location) -> bool:
    """Whether a unit was finished in ``run_dir`` (its record is written with its PNG)."""
    return next(iter(run_dir.glob(RECORDS)), None) is not None
