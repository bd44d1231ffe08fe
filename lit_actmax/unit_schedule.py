"""Which images a process optimizes, and when: units -> this rank's shard -> groups -> epochs -> step in group.

A run renders ``units`` (ids), each as ``variants`` images. The units are dealt to ranks round-robin
(``units[rank::world_size]``), then a rank's units are cut into *groups* of at most ``batch_size`` images (a unit's
variants always share a group). Each group is optimized for ``epochs`` epochs of ``steps_per_epoch`` optimizer
steps; an epoch is the unit of the between-epoch callbacks. Every rank has the same number of groups, so ranks stay
in step: a rank with fewer units repeats its last unit in a group whose images are not saved.

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

from .errors import ConfigError

__all__ = ["StepIndices", "UnitImage", "UnitSchedule"]


class UnitImage(NamedTuple):
    """One image of a group: its unit id, its variant index, and whether it is saved (False for the padding
    images of a rank that ran out of units)."""

    unit: int
    variant: int
    saved: bool


@dataclass(frozen=True)
class UnitSchedule:
    """The units of a run and how one rank walks through them (see the module docstring).

    Args:
        units: every unit id of the run, in order.
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
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

    def with_batch_size(self, batch_size: int) -> UnitSchedule:
        """The same run with another number of images per group."""
        return dataclasses.replace(self, batch_size=int(batch_size))

    # -- units and groups -------------------------------------------------------------------------------
    @cached_property
    def my_units(self) -> tuple[int, ...]:
        """This rank's units: ``units[rank::world_size]``."""
        return self.units[self.rank :: self.world_size]

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
            chunk = self.my_units[g * per_group : (g + 1) * per_group]
            images = tuple(UnitImage(u, v, True) for u in chunk for v in range(self.variants))
            if not images:  # this rank ran out of units: repeat its last one, unsaved, to stay in step
                fallback = self.my_units[-1] if self.my_units else self.units[0]
                images = tuple(UnitImage(fallback, v, False) for v in range(self.variants))
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
