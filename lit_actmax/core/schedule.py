"""Which images a process optimizes, and when: units -> this rank's shard -> groups -> epochs -> step in group.

A run renders ``units`` (ids), each as ``variants`` images; in a run of units across layers each unit also has a
*target* (the index of its layer's objective, :class:`~lit_actmax.core.layer_selection.PerLayer`), and a unit is the pair
(target, id). The units are dealt to ranks round-robin (``units[rank::world_size]``), then a rank's units are cut
into *groups* of at most ``batch_size`` images (a unit's variants always share a group). Each group is optimized for
``epochs`` epochs of ``steps_per_epoch`` optimizer steps; an epoch is the unit of the between-epoch callbacks. Every
rank has the same number of groups, so ranks stay in step: a rank with fewer units repeats its last unit in a group
whose images are not saved.

Lightning counts epochs over the whole run (``current_epoch``); :class:`UnitSchedule` turns that count (and the batch
index inside an epoch) into the group, the epoch in the group and the step in the group. It is a plain value:
every file that needs one of these numbers asks it, so they are computed in one place. :class:`StepIndices` is
the dataset of one epoch (a batch is a step number).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, NamedTuple, Sequence

import torch
from torch.utils.data import IterableDataset

from ..errors import ConfigError

__all__ = ["StepIndices", "UnitImage", "UnitSchedule"]


class UnitImage(NamedTuple):
    """One image of a group: its unit id, its variant index, whether it is saved (False for the padding images of a
    rank that ran out of units), and its target (the layer's index in a run of units across layers; else 0)."""

    unit: int
    variant: int
    saved: bool
    target: int = 0


@dataclass(frozen=True)
class UnitSchedule:
    """The units of a run and how one rank walks through them (see the module docstring).

    Args:
        units: every unit id of the run, in order.
        targets: each unit's target (same length as ``units``), or empty: every unit's target is 0.
        batch_size: images optimized together (a group).
        variants: images per unit; must not exceed ``batch_size``.
        epochs: epochs per group.
        steps_per_epoch: optimizer steps per epoch.
        rank, world_size: this process and the number of processes.

    Raises:
        ConfigError: a count below its minimum, no units, or more variants than ``batch_size``.
    """

    units: tuple[int, ...]
    batch_size: int = 8
    variants: int = 1
    epochs: int = 1
    steps_per_epoch: int = 1
    rank: int = 0
    world_size: int = 1
    targets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
        object.__setattr__(self, "targets", tuple(int(t) for t in self.targets))
        if self.targets and len(self.targets) != len(self.units):
            raise ConfigError(f"{len(self.targets)} targets for {len(self.units)} units; give one target per unit.")
        if len(set(self.keys)) != len(self.keys):
            raise ConfigError("A unit is listed twice; list every (layer, unit) once.")
        for name in ("batch_size", "variants", "epochs", "steps_per_epoch", "world_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not self.units:
            raise ConfigError("No units to render; give at least one unit id, e.g. units: '0-7'.")
        if self.variants > self.batch_size:
            raise ConfigError(
                f"variants ({self.variants}) must not exceed batch_size ({self.batch_size}): "
                "a unit's variants share a batch."
            )
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"rank {self.rank} is outside 0-{self.world_size - 1}.")

    def for_rank(self, rank: int, world_size: int) -> UnitSchedule:
        """The same run as seen by process ``rank`` of ``world_size``."""
        return dataclasses.replace(self, rank=int(rank), world_size=int(world_size))

    def without(self, done: set[tuple[int, int]]) -> UnitSchedule:
        """The same run without the units ``done`` (``(target, unit id)`` pairs); :class:`ConfigError` if none is left."""
        left = [key for key in self.keys if key not in done]
        if not left:
            raise ConfigError("Every unit of this run is rendered already; nothing is left to do.")
        return dataclasses.replace(self, units=tuple(u for _, u in left),
                                   targets=tuple(t for t, _ in left) if self.targets else ())

    def with_batch_size(self, batch_size: int) -> UnitSchedule:
        """The same run with another number of images per group."""
        return dataclasses.replace(self, batch_size=int(batch_size))

    # -- units and groups -------------------------------------------------------------------------------
    @cached_property
    def keys(self) -> tuple[tuple[int, int], ...]:
        """Every unit of the run as ``(target, unit id)``, in order."""
        return tuple(zip(self.targets or (0,) * len(self.units), self.units))

    @cached_property
    def my_keys(self) -> tuple[tuple[int, int], ...]:
        """This rank's units as ``(target, unit id)``: ``keys[rank::world_size]``."""
        return self.keys[self.rank :: self.world_size]

    @property
    def my_units(self) -> tuple[int, ...]:
        """This rank's unit ids: ``units[rank::world_size]``."""
        return tuple(unit for _, unit in self.my_keys)

    @property
    def units_per_group(self) -> int:
        return max(1, self.batch_size // self.variants)

    @cached_property
    def groups(self) -> tuple[tuple[UnitImage, ...], ...]:
        """This rank's groups, each a tuple of images; the same count on every rank."""
        per_group = self.units_per_group
        count = math.ceil(len(self.units) / (per_group * self.world_size))
        groups = []
        for g in range(count):
            chunk = self.my_keys[g * per_group : (g + 1) * per_group]
            images = tuple(UnitImage(u, v, True, t) for t, u in chunk for v in range(self.variants))
            if not images:  # this rank ran out of units: repeat its last one, unsaved, to stay in step
                t, u = self.my_keys[-1] if self.my_keys else self.keys[0]
                images = tuple(UnitImage(u, v, False, t) for v in range(self.variants))
            groups.append(images)
        return tuple(groups)

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    # -- epochs and steps -------------------------------------------------------------------------------
    @property
    def total_epochs(self) -> int:
        """Lightning's ``max_epochs`` for the run: every group's epochs."""
        return self.num_groups * self.epochs

    @property
    def steps_per_unit(self) -> int:
        """Optimizer steps each image gets: ``epochs * steps_per_epoch``."""
        return self.epochs * self.steps_per_epoch

    def group_of(self, epoch: int) -> int:
        """The group that (run-wide, 0-based) ``epoch`` belongs to."""
        return int(epoch) // self.epochs

    def epoch_in_group(self, epoch: int) -> int:
        """``epoch`` counted from the start of its group (0-based)."""
        return int(epoch) % self.epochs

    def is_last_epoch_of_group(self, epoch: int) -> bool:
        return self.epoch_in_group(epoch) == self.epochs - 1

    def step_in_group(self, epoch: int, batch_idx: int) -> int:
        """The optimizer step at batch ``batch_idx`` of ``epoch``, counted from the start of its group (0-based);
        it is also the number of steps the group's images have had before that step."""
        return self.epoch_in_group(epoch) * self.steps_per_epoch + int(batch_idx)

    def items_of(self, group: int) -> Sequence[UnitImage]:
        """The images of group ``group``; empty outside ``0 .. num_groups - 1``."""
        return self.groups[group] if 0 <= group < self.num_groups else ()


class StepIndices(IterableDataset):
    """The step indices of one epoch: the module holds the images, so a batch is just a step number."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (torch.tensor(i) for i in range(self.steps))

    def __len__(self) -> int:
        return self.steps
