"""``StopSignals``: Ctrl-C, SIGTERM and SLURM's requeue signal end a fit at the end of an optimizer step, the same step
on every process, and a failure of any process stops every other one there.

:class:`~lit_actmax.lightning.module.ActMaxModule` adds it to every Trainer it is fit with (``configure_callbacks``).
During training it takes over three signals; each only notes a request, which every rank posts at the end of the
optimizer step and all ranks take together (:meth:`~lit_actmax.lightning.rank_sync.RankSync.agree`, which also
raises another rank's failure as :class:`~lit_actmax.errors.RankFailureError`):

- **SIGINT** (Ctrl-C): the fit stops with :class:`Interrupted` (a ``KeyboardInterrupt``); a second Ctrl-C stops at
  once, in the middle of a step.
- **SIGTERM** (what SLURM, Kubernetes and ``kill`` send to end a job): the fit stops with
  :class:`~lit_actmax.exits.Preempted`, whose exit code is :data:`~lit_actmax.exits.EXIT_PREEMPTED` (75); a second
  SIGTERM stops at once. Lightning's own SIGTERM handling is set aside while this one is in place: it ends the fit
  with exit code 0 and calls a collective from inside the signal handler.
- **SLURM's requeue signal** (``SIGUSR1`` unless the ``SLURMEnvironment`` names another), when Lightning's
  auto-requeue set a handler for it: that handler (save ``hpc_ckpt_<n>.ckpt``, ``scontrol requeue``) runs at the
  agreed step instead of in the middle of one, and older ``hpc_ckpt_*.ckpt`` files are removed; a fit that ends
  complete removes those it made or resumed from, so a later fit in the same folder does not resume a finished one.

What is saved on such a stop (a checkpoint, the index of finished units) and the sentence are
:class:`~lit_actmax.callbacks.run_checkpoint.RunCheckpoint`'s. Outside training the signals keep their handlers,
except that a SIGTERM while the fit saves or ends is only noted (the run finishes what it is writing).
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from ..exits import Preempted
from ..lightning.package import pl
from ..lightning.rank_sync import rank_sync_of
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["Interrupted", "StopSignals", "HPC_CHECKPOINT", "remove_hpc_checkpoints"]

#: Lightning's SLURM requeue checkpoints, ``<default_root_dir>/hpc_ckpt_<n>.ckpt`` (the highest ``n`` is resumed).
HPC_CHECKPOINT = re.compile(r"hpc_ckpt_(\d+)\.ckpt")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, taken by every rank after the same optimizer step (so one checkpoint of all ranks can be saved)."""


class StopSignals(ActMaxCallback):
    """Signals as a cluster means them, taken at the same step by every rank (see the module docstring). It keeps no
    state between fits."""

    def __init__(self) -> None:
        super().__init__()
        self._requests: list[str] = []
        self._previous: dict[int, Any] = {}  # signal -> the handler this callback replaced
        self._requeue_signal: int | None = None
        self._training = False
        self._speaks = True  # global rank 0 says what happens
        self._hpc_checkpoints = False  # this fit made or resumed from a SLURM requeue checkpoint

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self._requests, self._training, self._speaks = [], True, trainer.is_global_zero
        self._hpc_checkpoints = bool(HPC_CHECKPOINT.fullmatch(Path(str(trainer.ckpt_path or "")).name))
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._take(signal.SIGINT)
        self._take(signal.SIGTERM)
        environment = getattr(trainer.strategy, "cluster_environment", None)
        requeue = getattr(environment, "requeue_signal", None) if getattr(environment, "auto_requeue", False) else None
        if requeue is not None and callable(signal.getsignal(requeue)):  # Lightning's auto-requeue handler
            self._requeue_signal = int(requeue)
            self._take(requeue)

    def _take(self, signum: int) -> None:
        self._previous[int(signum)] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Note the request (no I/O, no collective: this runs between any two bytecodes of the main thread)."""
        kind = "interrupt" if signum == signal.SIGINT else "preempt" if signum == signal.SIGTERM else "requeue"
        if not self._training:  # saving or ending: finish what is being written
            return
        if kind in self._requests and kind != "requeue":  # the second Ctrl-C or SIGTERM: stop now
            self._training = False
            raise KeyboardInterrupt if kind == "interrupt" else Preempted(every_rank=False)
        self._requests.append(kind)
        if self._speaks and kind == "interrupt":
            sys.stderr.write("\nlit-actmax: stopping after this step (Ctrl-C again to stop at once) ...\n")
        elif self._speaks and kind == "preempt":
            sys.stderr.write("\nlit-actmax: SIGTERM: stopping after this step and saving what is finished ...\n")

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        requests, self._requests = self._requests, []
        taken = rank_sync_of(trainer).agree(requests)
        if "requeue" in taken:
            self._requeue(trainer)
        if "interrupt" in taken or "preempt" in taken:
            self._training = False
            raise Interrupted if "interrupt" in taken else Preempted(every_rank=True)

    def _requeue(self, trainer: pl.Trainer) -> None:
        """Lightning's requeue handler (every rank saves the checkpoint together; rank 0 requeues), then rank 0
        removes the older requeue checkpoints."""
        handler = self._previous.get(self._requeue_signal or -1)
        if not callable(handler):
            return
        handler(self._requeue_signal, None)
        self._hpc_checkpoints = True
        if trainer.is_global_zero:
            remove_hpc_checkpoints(Path(trainer.default_root_dir), keep_newest=True)

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self._training = False

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        self.restore()
        rank_sync_of(trainer).close()  # the fit is over, its on_fit_end included: no more agreeing or meeting
        if stage == "fit" and self._hpc_checkpoints and pl_module.run_finished and trainer.is_global_zero:
            remove_hpc_checkpoints(Path(trainer.default_root_dir), keep_newest=False)  # a finished run resumes nothing

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: ActMaxModule, exception: BaseException) -> None:
        self._training = False  # signals are only noted while the run saves what it can; teardown gives them back

    def restore(self) -> None:
        """Give the signals their handlers back (the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous.items():
            if signal.getsignal(signum) == self._on_signal and handler is not None:
                signal.signal(signum, handler)
        self._previous = {}


def remove_hpc_checkpoints(folder: Path, keep_newest: bool) -> None:
    """Remove Lightning's ``hpc_ckpt_<n>.ckpt`` files in ``folder`` (all, or all but the highest ``n``)."""
    found = sorted((int(m.group(1)), p) for p in folder.glob("hpc_ckpt_*.ckpt") if (m := HPC_CHECKPOINT.fullmatch(p.name)))
    for _, path in found[:-1] if keep_newest else found:
        path.unlink(missing_ok=True)
