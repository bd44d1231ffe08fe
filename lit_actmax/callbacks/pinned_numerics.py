"""``PinnedNumerics``: every process of a fit runs with the numerics of the run's config, and gets its own back.

:class:`~lit_actmax.lightning.module.ActMaxModule` adds it to every Trainer (``configure_callbacks``) with its ``numerics``
argument. In ``setup`` (on every process, after Lightning's launcher set each process's thread count to
``cores / processes``, before the first training forward) it applies the :class:`~lit_actmax.core.numerics.Numerics`;
in ``teardown`` and ``on_exception`` (Lightning calls no ``teardown`` when a fit fails) it gives the process's
previous settings back. ``index.json`` records the config and what was in effect on global rank 0. A bf16 precision on
a CPU without native bf16 gets a one-line warning here (:mod:`lit_actmax.core.cpu_bf16`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from ..core.cpu_bf16 import slow_bf16_warning
from ..core.numerics import PINNED, Numerics, NumericsState, current_numerics
from ..lightning.package import pl, rank_zero_warn
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["PinnedNumerics"]


class PinnedNumerics(ActMaxCallback):
    """Apply ``numerics`` for the fit (None: pin nothing, only record what is in effect).

    ``index_entries()`` gives ``{"numerics": {"config": numerics.describe() or None, "effective": {...}}}``:
    threads (those ``"auto"`` chose), deterministic flags, matmul precision and TF32, the torch version, the CPU
    instruction set, the cores available and OpenMP's wait policy.
    """

    def __init__(self, numerics: Numerics | None = PINNED) -> None:
        self.numerics = numerics
        self._previous: NumericsState | None = None
        self._effective: dict[str, Any] | None = None

    @override
    def setup(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        if self._previous is None and self.numerics is not None:  # "auto" threads: this process's share of the cores
            self._previous = self.numerics.apply(processes=max(1, int(trainer.num_devices)))
        self._effective = current_numerics()
        slow = slow_bf16_warning(str(trainer.precision), trainer.strategy.root_device.type)
        if slow is not None:
            rank_zero_warn(slow)

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        self.restore()

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: ActMaxModule, exception: BaseException) -> None:
        self.restore()

    def restore(self) -> None:
        """Give the process the numerics it had before ``setup`` (once; nothing if none were applied)."""
        previous, self._previous = self._previous, None
        if previous is not None:
            previous.restore()

    @override
    def index_entries(self) -> dict[str, Any]:
        config = self.numerics.describe() if self.numerics is not None else None
        return {"numerics": {"config": config, "effective": self._effective or current_numerics()}}
