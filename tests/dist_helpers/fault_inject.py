"""``InjectFault``: a callback that stops a fit at one hook of one rank, as a cluster or a bug would.

Used by ``tests/test_faults.py`` through the real command line (``lit-actmax fit|atlas ...`` with
``fault_inject.InjectFault`` among the Trainer's callbacks and this folder on ``PYTHONPATH``, so Lightning's launcher
re-runs the same command for rank 1). ``action``: a signal (``SIGTERM``, ``SIGINT``, ``SIGKILL``, ``SIGUSR1``) sent
to this process (its handler runs right there, at the hook), ``raise`` (a bug: ``RuntimeError``), ``diverge`` (a
``DivergenceError``), ``oom`` (torch's CPU allocator message), ``disk_full`` (``OSError`` ENOSPC). ``hook``:
``train_epoch_start``, ``train_batch_start``, ``train_batch_end``, ``train_epoch_end``, ``units_finished`` (inside
the group's finish, before its files are written), ``train_end``, ``fit_end``; ``step`` (global step, -1: any) and
``rank`` (global rank) pick the moment.
"""

from __future__ import annotations

import errno
import os
import signal

from lit_actmax.callbacks import ActMaxCallback
from lit_actmax.errors import DivergenceError


class InjectFault(ActMaxCallback):
    def __init__(self, hook: str = "train_batch_end", action: str = "SIGTERM", step: int = -1, rank: int = 0) -> None:
        super().__init__()
        self.hook, self.action, self.step, self.rank = hook, action, step, rank
        self.fired = False

    def _at(self, trainer, hook: str) -> None:
        if self.fired or hook != self.hook or trainer.global_rank != self.rank:
            return
        if self.step >= 0 and trainer.global_step != self.step:
            return
        self.fired = True
        if self.action.startswith("SIG"):
            os.kill(os.getpid(), getattr(signal, self.action))
        elif self.action == "raise":
            raise RuntimeError("injected failure")
        elif self.action == "diverge":
            raise DivergenceError("Unit 1 diverged (injected); lower the learning rate.")
        elif self.action == "oom":
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you "
                               "tried to allocate 123456789012 bytes. Error code 12 (Cannot allocate memory)")
        elif self.action == "disk_full":
            raise OSError(errno.ENOSPC, "No space left on device", "images/features.2/unit_00001.png")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._at(trainer, "train_epoch_start")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._at(trainer, "train_batch_start")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._at(trainer, "train_batch_end")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._at(trainer, "train_epoch_end")

    def on_units_finished(self, trainer, pl_module, finished) -> None:
        self._at(trainer, "units_finished")

    def on_train_end(self, trainer, pl_module) -> None:
        self._at(trainer, "train_end")

    def on_fit_end(self, trainer, pl_module) -> None:
        self._at(trainer, "fit_end")
