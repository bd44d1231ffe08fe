"""Record each unit's activation curve over its optimization into its record, for the gallery.

A point is the mean, over one epoch's optimizer steps, of the module's ``step_activations``: the target
activation of the *augmented* views the optimizer saw (noisy where augmentation is strong; the record's
``activation`` is the final, un-augmented one). The record gets::

    "activation_curve": {"steps_per_point": 32, "values": [0.12, 0.85, 1.93, ...]}   # one value per epoch
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from typing_extensions import override

from ..lightning.package import pl
from ..run.records import FinishedUnits
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..core.schedule import UnitImage
    from ..lightning.module import ActMaxModule

__all__ = ["ActivationCurves", "EpochActivations"]


class EpochActivations:
    """Running per-image means of step activations within an epoch, and the finished epochs' means.

    ``add((N,))`` every step; ``end_epoch() -> (N,)`` the epoch's means (None if nothing was added), also kept in
    ``points``; ``reset()`` when a new group of images starts.
    """

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None  # (N,) sum over this epoch's steps
        self.count = 0
        self.points: list[torch.Tensor] = []  # (N,) per finished epoch, on the CPU

    def reset(self) -> None:
        self.total, self.count, self.points = None, 0, []

    def add(self, values: torch.Tensor | None) -> None:
        if values is None:
            return
        values = values.detach().float()  # stays on the device: no host sync per step
        if self.total is None or self.total.shape != values.shape or self.total.device != values.device:
            self.total, self.count = torch.zeros_like(values), 0
        self.total = self.total + values
        self.count += 1

    def end_epoch(self) -> torch.Tensor | None:
        if self.total is None or self.count == 0:
            return None
        means = (self.total / self.count).cpu()
        if self.points and self.points[-1].shape != means.shape:  # a new group of another size: start over
            self.points = []
        self.points.append(means)
        self.total, self.count = None, 0
        return means

    def curves(self) -> torch.Tensor:
        """(N, epochs) means of the finished epochs."""
        return torch.stack(self.points, 1) if self.points else torch.zeros(0, 0)

    @override
    def state_dict(self) -> dict[str, Any]:
        total = None if self.total is None else self.total.cpu()
        return {"total": total, "count": self.count, "points": list(self.points)}

    @override
    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total, self.count = state.get("total"), int(state.get("count", 0))
        self.points = list(state.get("points", []))


class ActivationCurves(ActMaxCallback):
    """Save each image's per-epoch mean activation as ``activation_curve`` in its record."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs = EpochActivations()

    @override
    def on_units_started(self, trainer: pl.Trainer, pl_module: ActMaxModule, items: Sequence[UnitImage]) -> None:
        self.epochs.reset()

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.epochs.add(pl_module.step_activations)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        self.epochs.end_epoch()

    @override
    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        self.epochs.end_epoch()  # a group finished mid-epoch (e.g. max_steps): keep its partial epoch
        curves = self.epochs.curves()
        if curves.shape[0] != len(finished.units):  # e.g. resumed without this callback's state
            return
        for i, ok in enumerate(finished.valid):
            if ok:
                finished.extras[i]["activation_curve"] = {
                    "steps_per_point": int(pl_module.schedule.steps_per_epoch),
                    "values": [round(float(v), 6) for v in curves[i]],
                }

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs.state_dict()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs.load_state_dict(state_dict.get("epochs", {}))
