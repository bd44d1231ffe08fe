"""The records of a run folder: one JSON per saved image (:class:`UnitRecord`, beside its PNG), the run-level fields
of ``index.json`` (:class:`RunSummary`, format :data:`INDEX_FORMAT`), and a group's final images as callbacks see
them before they are written (:class:`FinishedUnits`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch

from .files import read_json
from .storage import AnyPath, location

__all__ = [
    "INDEX_FORMAT", "FinishedUnits", "RunSummary", "UnitRecord", "image_stem", "iter_records", "read_record",
    "record_is_complete",
]

#: The format of ``index.json``; a reader checks it before trusting the fields below.
INDEX_FORMAT = "lit_actmax.index/1"


def record_is_complete(record: dict[str, Any]) -> bool:
    """Whether a unit record's image had all its steps (``steps_done``; a group cut short by ``max_steps`` or
    ``max_time`` has fewer; records without it, from earlier versions, count as complete)."""
    steps_done = record.get("steps_done")
    return not isinstance(steps_done, int) or steps_done >= record.get("steps", 0)


def image_stem(unit: int, variant: int = 0, variants: int = 1) -> str:
    """``unit_00130`` (or ``unit_00130_v2`` when a unit has several variants)."""
    return f"unit_{unit:05d}" + (f"_v{variant}" if variants > 1 else "")


def read_record(path: AnyPath) -> dict[str, Any] | None:
    """The unit record at ``path``, or None when it cannot be read, does not parse or lacks what every record has
    (``unit``, ``variant``, ``layer``: a record cut short by a full disk or a hand edit)."""
    try:
        record = read_json(path)
    except (OSError, ValueError):  # UnicodeDecodeError and json's JSONDecodeError are ValueErrors
        return None
    if not isinstance(record, dict) or not all(isinstance(record.get(k), t) for k, t in _REQUIRED.items()):
        return None
    return record


_REQUIRED = {"unit": int, "variant": int, "layer": str}


def iter_records(run_dir: AnyPath) -> Iterable[dict]:
    """Every readable per-unit record (``images/*/unit_*.json``) of a run, sorted by layer, unit and variant; a record
    that does not parse is left out (a continued run renders its unit again, saying so:
    :func:`lit_actmax.run.continued.check_folder`)."""
    records = [r for p in sorted(location(run_dir).glob("images/*/unit_*.json")) if (r := read_record(p)) is not None]
    return sorted(records, key=lambda r: (str(r.get("layer")), int(r.get("unit", 0)), int(r.get("variant", 0))))



@dataclass
class FinishedUnits:
    """A group's final images, handed to callbacks' ``on_units_finished`` before they are written.

    ``images``: (N, 3, H, W) in [0, 1]; ``activations``: (N,) target activation of the images without transforms;
    ``valid``: (N,) False for padding images that are not saved; ``targets``: each image's target (its layer's
    index in a run of units across layers; empty: all 0); ``steps_done``: the optimizer steps the images had (fewer
    than the run's steps when a group was cut short; None: all of them). Callbacks may replace ``images`` and
    ``activations`` (e.g. with the best seen), add per-image fields to ``extras[i]`` (saved into each record) and
    files to ``files[i]`` (name -> path relative to the run directory).
    """

    units: list[int]
    variants: list[int]
    images: torch.Tensor
    activations: torch.Tensor
    valid: list[bool]
    extras: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    steps_done: int | None = None

    def __post_init__(self) -> None:
        if not self.extras:
            self.extras = [{} for _ in self.units]
        if not self.files:
            self.files = [{} for _ in self.units]
        if not self.targets:
            self.targets = [0 for _ in self.units]

    @classmethod
    def of(cls, items: Sequence[Any], images: torch.Tensor, activations: torch.Tensor,
           steps_done: int | None = None) -> FinishedUnits:
        """The finished group of ``items`` (``UnitImage``: unit, variant, saved, target; one per image)."""
        return cls(units=[i.unit for i in items], variants=[i.variant for i in items], images=images,
                   activations=activations, valid=[i.saved for i in items], targets=[i.target for i in items],
                   steps_done=steps_done)

    def key(self, i: int) -> tuple[int, int, int]:
        """Image ``i``'s ``(unit, variant, target)``: what callbacks key per-unit state by (unit ids repeat across
        the layers of a run of units across layers)."""
        return int(self.units[i]), int(self.variants[i]), int(self.targets[i])


@dataclass
class UnitRecord:
    """``images/<layer>/<stem>.json``: what one saved image shows and how it was made.

    ``seed`` is the unit's own initialization seed (derived from ``base_seed``); ``image`` and ``files`` are
    relative to the run directory; ``extras`` are callbacks' fields (e.g. ``best_step``), stored at the top level.
    """

    unit: int
    variant: int
    layer: str
    objective: str
    activation: float
    seed: int
    base_seed: int
    image: str
    size: list[int]
    rank: int
    steps: int
    files: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    steps_done: int | None = None

    def to_json(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("extras", "label")}
        record.update(self.extras)
        if self.label is not None:
            record["label"] = self.label
        return record


@dataclass
class RunSummary:
    """The run-level fields of ``index.json`` (before ``grids`` and ``units``)."""

    backbone: str
    objective: str
    regularizers: list[str]
    layers: list[str]
    param: str
    size: list[int]
    steps_per_unit: int
    seed: int
    world_size: int
    config: dict[str, Any]
