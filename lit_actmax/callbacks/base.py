"""``ActMaxCallback``: the base of lit_actmax's callbacks, and the hooks :class:`~lit_actmax.lightning.module.ActMaxModule`
calls beyond Lightning's.

A run renders its units in groups (:class:`~lit_actmax.core.schedule.UnitSchedule`). Around each group the module
calls, on every ``ActMaxCallback`` of the Trainer, in the Trainer's callback order:

- ``on_units_started(trainer, pl_module, items)``: a group's images were just made (at the start of its first
  epoch, after a resume too);
- ``on_units_finished(trainer, pl_module, finished)``: the group's last epoch ended; ``finished`` holds the final
  images before they are written, and a callback may replace them or add record fields and files;
- ``index_entries()``: at the end of the run, on global rank 0, top-level fields for ``index.json``.

Besides Lightning's own attributes, callbacks read only the module's declared contract: ``renderer``,
``schedule``, ``writer``, ``run_dir``, ``group_index``, ``epoch_in_group``, ``is_last_epoch_of_group``, ``step_in_group``,
``step_activations``, ``reset_optimizer_state()`` and ``run_finished`` (see :mod:`lit_actmax.lightning.module`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from ..lightning.package import pl

if TYPE_CHECKING:
    from ..core.schedule import UnitImage
    from ..lightning.module import ActMaxModule
    from ..run.records import FinishedUnits

__all__ = ["ActMaxCallback"]


class ActMaxCallback(pl.Callback):
    """A Lightning callback that also hears about groups of units; every hook is optional (does nothing here)."""

    #: Whether this callback changes how the images are optimized (between-epoch image changes, gradient changes):
    #: such callbacks are part of a run's settings fingerprint, in the Trainer's order, so a resume with other ones
    #: is refused (:func:`~lit_actmax.callbacks.run_checkpoint.image_callbacks`). A subclass that does sets it True.
    changes_images: ClassVar[bool] = False

    def on_units_started(self, trainer: pl.Trainer, pl_module: ActMaxModule, items: Sequence[UnitImage]) -> None:
        """A group of images was made: ``items`` are its (unit, variant, saved) entries, in batch order."""

    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        """A group is finished; ``finished`` may be changed before it is written."""

    def index_entries(self) -> dict[str, Any]:
        """Top-level fields this callback adds to ``index.json`` (global rank 0, end of the run)."""
        return {}
