"""A run's records as the pages read them: the index and unit records, dataset examples, each unit's variants, the
layers in model order, a record's numbers and image files. Plain Python; writes nothing."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import ConfigError
from ..run.files import read_json
from ..run.records import iter_records, record_is_complete
from ..run.storage import AnyPath, Location, location

__all__ = ["load_run", "load_examples", "Unit", "group_units", "layer_order", "incomplete_steps", "run_settings",
           "flat_numbers", "record_numbers", "SKIP_NUMBER_KEYS", "ordered_files", "is_alpha_file"]

#: Record keys shown apart from a unit's table of numbers (or not worth showing).
SKIP_NUMBER_KEYS = {"unit", "variant", "layer", "objective", "seed", "base_seed", "image", "size", "rank", "steps",
                    "files", "activation_curve", "label", "activation"}

#: Image files first in this order (best/final image, GIF, transparency), then any other, by name.
_FILE_ORDER = ("best", "final", "gif", "alpha")


def load_run(run_dir: AnyPath) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run's ``index.json`` ({} when there is none yet) and its unit records: the index's ``units`` and every record
    ``images/*/unit_*.json`` it does not list (a run still going, or continued with more units or layers).
    A :class:`~lit_actmax.errors.ConfigError` when there are none."""
    run_dir = location(run_dir)
    index_path = run_dir / "index.json"
    index: dict[str, Any] = read_json(index_path) if index_path.is_file() else {}
    records = list(index.get("units") or [])
    listed = {Path(str(r.get("image"))).with_suffix(".json").as_posix() for r in records}
    if any(p.relative_to(run_dir).as_posix() not in listed for p in run_dir.glob("images/*/unit_*.json")):
        records += [r for r in iter_records(run_dir)
                    if Path(str(r.get("image"))).with_suffix(".json").as_posix() not in listed]
    if not records:
        raise ConfigError(f"{str(run_dir)!r} holds no rendered units (no index.json, no images/*/unit_*.json); "
                          "give a run directory such as actmax_runs/lite0/version_0.")
    return index, records


def load_examples(run_dir: AnyPath) -> dict[str, dict[str, Any]]:
    """{layer: examples.json} of every ``examples/*/examples.json`` in the run (unreadable ones are left out)."""
    found = {}
    for path in sorted(location(run_dir).glob("examples/*/examples.json")):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        found[str(data.get("layer", path.parent.name))] = data
    return found


def incomplete_steps(records: Sequence[dict[str, Any]]) -> str:
    """``"40 of 96 steps"`` when an image of ``records`` (a unit's) had fewer steps than the run's (a group cut short
    by ``max_steps``/``max_time``; ``steps_done`` in its record), else ''."""
    short = [r for r in records if not record_is_complete(r)]
    return f"{min(r['steps_done'] for r in short)} of {short[0]['steps']} steps" if short else ""


def _activation(record: dict[str, Any]) -> float | None:
    value = record.get("activation")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


@dataclass
class Unit:
    """One unit of a layer: its records (one per variant, by variant)."""

    layer: str
    unit: int
    records: list[dict[str, Any]]

    @property
    def shown(self) -> dict[str, Any]:
        """The variant with the highest activation (the first variant when none has one): the unit's thumbnail."""
        return max(self.records, key=lambda r: (_activation(r) if _activation(r) is not None else -math.inf,
                                                -int(r.get("variant", 0))))

    @property
    def activation(self) -> float | None:
        """The highest finite activation of the unit's variants, or None."""
        return _activation(self.shown)

    @property
    def label(self) -> str:
        return next((str(r["label"]) for r in self.records if r.get("label")), "")

    @property
    def incomplete(self) -> str:
        """``"40 of 96 steps"`` when an image had fewer steps than the run's (a group cut short), else ''."""
        return incomplete_steps(self.records)

    @property
    def several(self) -> bool:
        """Whether the unit has more than one variant."""
        return len(self.records) > 1


def _natural_key(text: str) -> list[Any]:
    """``_blocks.10`` after ``_blocks.9``: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def layer_order(index: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[str]:
    """The layers that have records, in model order: as listed in the index's ``layers`` (the run's order), then any
    other in natural order of their names (an unfinished run has no index: ``features.10`` after ``features.9``)."""
    present = {str(r.get("layer")) for r in records}
    listed = [str(layer) for layer in index.get("layers") or [] if str(layer) in present]
    ordered = list(dict.fromkeys(listed))
    return ordered + sorted(present - set(ordered), key=_natural_key)


def group_units(index: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, list[Unit]]:
    """{layer: its units by id}, layers in model order (:func:`layer_order`)."""
    grouped: dict[str, dict[int, list[dict[str, Any]]]] = {layer: {} for layer in layer_order(index, records)}
    for record in records:
        grouped[str(record.get("layer"))].setdefault(int(record["unit"]), []).append(record)
    return {layer: [Unit(layer, unit, sorted(rs, key=lambda r: int(r.get("variant", 0))))
                    for unit, rs in sorted(units.items())] for layer, units in grouped.items()}


def run_settings(run_dir: Location, index: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(name, value) of the run's settings that are known (backbone, objective, param, size, ...), for a header."""
    meta = [("run", run_dir.resolve()), ("backbone", index.get("backbone")), ("objective", index.get("objective")),
            ("param", index.get("param")), ("size", "x".join(map(str, index.get("size", []))) or None),
            ("steps/unit", index.get("steps_per_unit")), ("seed", index.get("seed")),
            ("processes", index.get("world_size")), ("images", len(records)),
            ("regularizers", ", ".join(index.get("regularizers", [])) or None)]
    return [(name, value) for name, value in meta if value not in (None, "")]


def flat_numbers(data: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, scalar) pairs of a nested dict; lists and per-unit tables are skipped."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key not in ("per_unit", "units"):
                yield from flat_numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, (int, float, str, bool)):
        yield prefix, data


def record_numbers(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """(name, scalar) of a record's numbers: its activation, then callbacks' fields (``best_step``, metrics, ...) as
    dotted keys; the fields in :data:`SKIP_NUMBER_KEYS` are left out."""
    numbers: list[tuple[str, Any]] = [("activation", record.get("activation"))]
    for key, value in record.items():
        if key not in SKIP_NUMBER_KEYS:
            numbers.extend(flat_numbers({key: value}))
    return numbers


def _file_rank(name: str) -> int:
    return _FILE_ORDER.index(name) if name in _FILE_ORDER else len(_FILE_ORDER)


def ordered_files(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A record's ``files`` as (name, path relative to the run) pairs: best/final image, GIF, transparency first."""
    files = record.get("files") or {}
    return [(str(name), path) for name, path in sorted(files.items(), key=lambda item: (_file_rank(item[0]), item[0]))
            if isinstance(path, str)]


def is_alpha_file(name: str) -> bool:
    """Whether a ``files`` entry is a transparency map (drawn over a checkerboard)."""
    return "alpha" in name or "transparen" in name
