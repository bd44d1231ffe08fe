"""The run directory: one folder per run, never reused silently, with atomic writes.

Layout::

    <out_dir>/<name>/version_<k>/
        config.yaml                       resolved config (CLI runs)
        index.json                        one record per rendered image, written once at the end
        images/<layer>/unit_00130.png     one PNG per unit (``_v<k>`` suffix per variant when several)
        images/<layer>/unit_00130.json    the unit's record, written with its PNG (survives a crash)
        grids/<layer>.png                 contact sheet per layer

:class:`RunWriter` writes a run's output: the PNG and record of every finished unit (:class:`UnitRecord`), then
``index.json`` (:class:`RunSummary` + the records; format :data:`INDEX_FORMAT`) and the grids. The functions
below it (atomic writes, names) serve every file lit_actmax writes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from ..backbones.probe import OUTPUT
from ..core.seeding import STREAM_INIT, unit_seed
from ..errors import ConfigError, DivergenceError
from ..image.contact_sheet import contact_sheet

__all__ = [
    "INDEX_FORMAT",
    "SETTINGS_FILE",
    "run_name_of",
    "record_is_complete",
    "jsonable",
    "FinishedUnits",
    "UnitRecord",
    "RunSummary",
    "RunWriter",
    "new_run_dir",
    "check_writable",
    "remove_if_unused",
    "safe_name",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_png",
    "to_uint8",
    "image_stem",
    "write_json",
    "strict_json",
    "read_json",
    "iter_records",
]


def safe_name(text: str) -> str:
    """A file-system safe version of a layer or run name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._")
    return cleaned or "_"


def run_name_of(backbone: str, run_name: str | None = None) -> str:
    """The name of a run's folder under ``out_dir``: ``run_name``, else the backbone spec made a folder name
    (``torchvision:resnet50`` -> ``resnet50``)."""
    return safe_name(run_name or backbone.replace("torchvision:", "").replace(":", "_"))


def record_is_complete(record: dict[str, Any]) -> bool:
    """Whether a unit record's image had all its steps (``steps_done``; a group cut short by ``max_steps`` or
    ``max_time`` has fewer; records without it, from earlier versions, count as complete)."""
    steps_done = record.get("steps_done")
    return not isinstance(steps_done, int) or steps_done >= record.get("steps", 0)


def new_run_dir(out_dir: str | os.PathLike, name: str) -> Path:
    """Create and return ``out_dir/name/version_<k>`` with the next free ``k`` (mkdir is atomic)."""
    base = Path(out_dir) / safe_name(name)
    base.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in base.iterdir() if (m := re.fullmatch(r"version_(\d+)", p.name))]
    k = max(taken, default=-1) + 1
    while True:
        path = base / f"version_{k}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1


def check_writable(out_dir: str | os.PathLike) -> None:
    """Raise :class:`~lit_actmax.errors.ConfigError` unless run folders can be made under ``out_dir`` (it exists as a
    writable folder, or its nearest existing parent is one); nothing is created."""
    path = Path(out_dir).absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise ConfigError(f"out_dir {str(out_dir)!r} cannot be created: {str(existing)!r} is not a folder; pick another out_dir.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"out_dir {str(out_dir)!r} cannot be written: {str(existing)!r} is not writable; pick another out_dir.")


def remove_if_unused(run_dir: str | os.PathLike, kept: Sequence[str] = ("config.yaml", "settings.json")) -> bool:
    """Remove ``run_dir`` (and its ``images``/``grids`` folders) if it holds no file but ``kept`` ones: a run that
    failed before finishing a unit leaves nothing behind. Returns whether it was removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or any(p.is_file() and p.name not in kept for p in run_dir.rglob("*")):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    if parent.is_dir() and not any(parent.iterdir()):  # the run name's folder, made for this run only
        parent.rmdir()
    return True


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as strict JSON, atomically: a NaN or infinity raises ``ValueError`` naming its key (JSON has
    neither; a writer that expects one stores null through :func:`strict_json`)."""
    try:
        text = json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    except ValueError:
        key = _nonfinite_key(data)
        if key is None:
            raise
        raise ValueError(f"{str(path)!r} would hold a non-finite number at {key}; JSON has no NaN or infinity "
                         "(a writer stores null for a missing number).") from None
    atomic_write_text(path, text + "\n")


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf, e.g. a "nothing seen yet" sentinel) replaced by None, for
    fields where a missing number is expected; containers are copied, other leaves kept."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return strict_json(value.tolist())
    return value


def _nonfinite_key(value: Any, key: str = "the top level") -> str | None:
    """Where in ``value`` (as written by :func:`write_json`) a non-finite number sits, e.g. ``units[3].activation``."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    if isinstance(value, dict):
        items = [(f"{key}.{k}" if key != "the top level" else str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
    else:
        return key if isinstance(value, (float, np.floating)) and not math.isfinite(value) else None
    return next((found for k, v in items if (found := _nonfinite_key(v, k)) is not None), None)


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8; (1, H, W) or (H, W) -> (H, W) uint8."""
    image = image.detach().float().cpu().clamp(0, 1)
    if image.dim() == 3 and image.shape[0] == 1:
        image = image[0]
    array = (image.numpy() * 255.0 + 0.5).astype(np.uint8)
    return array.transpose(1, 2, 0) if array.ndim == 3 else array


def save_png(path: str | os.PathLike, image: torch.Tensor | np.ndarray | Image.Image) -> None:
    """Save (3, H, W) / (4, H, W) in [0, 1], a uint8 array or a PIL image as PNG, atomically."""
    if isinstance(image, torch.Tensor):
        image = Image.fromarray(to_uint8(image))
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def image_stem(unit: int, variant: int = 0, variants: int = 1) -> str:
    """``unit_00130`` (or ``unit_00130_v2`` when a unit has several variants)."""
    return f"unit_{unit:05d}" + (f"_v{variant}" if variants > 1 else "")


def iter_records(run_dir: str | os.PathLike) -> Iterable[dict]:
    """Every per-unit record (``images/*/*.json``) of a run, sorted by layer, unit and variant."""
    records = [read_json(p) for p in sorted(Path(run_dir).glob("images/*/unit_*.json"))]
    return sorted(records, key=lambda r: (str(r.get("layer")), int(r.get("unit", 0)), int(r.get("variant", 0))))


#: A continued run folder's settings (``ActMaxModule(run_dir=...)``): what every image in it was made with.
SETTINGS_FILE = "settings.json"

#: The format of ``index.json``; a reader checks it before trusting the fields below.
INDEX_FORMAT = "lit_actmax.index/1"


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


class RunWriter:
    """Writes one run's images, records, grids and index into ``run_dir`` (see the module docstring).

    Args:
        run_dir: the run's folder (made by :func:`new_run_dir`).
        layer: the objective's main layer; images go to ``images/<safe_name(layer)>/``.
        variants: images per unit (decides the file stems, see :func:`image_stem`).
        objective: the objective's description, stored in every record.
        targets: in a run of units across layers, ``(layer, objective description)`` of each target (target ``t``'s
            images go to ``images/<safe_name(layer)>/``); None: one target, ``(layer, objective)``.
        base_seed: the run's seed; each record also gets its unit's own initialization seed.
        steps: optimizer steps per image.
        rank: the process writing (stored in records).
        class_names: the class names of the ``"output"`` layer: records of that layer get ``label``; None: none.
    """

    def __init__(self, run_dir: str | os.PathLike, layer: str, variants: int = 1, objective: str = "",
                 base_seed: int = 0, steps: int = 0, rank: int = 0, class_names: Sequence[str] | None = None,
                 targets: Sequence[tuple[str, str]] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.targets = [(str(a), str(b)) for a, b in targets] if targets else [(layer, objective)]
        self.layer, self.objective = self.targets[0]
        self.variants = int(variants)
        self.base_seed, self.steps, self.rank = int(base_seed), int(steps), int(rank)
        self.class_names = list(class_names) if class_names is not None else None

    @property
    def unit_dir(self) -> Path:
        """The folder of the per-unit files (of target 0; :meth:`unit_dir_of` for others)."""
        return self.unit_dir_of(0)

    def unit_dir_of(self, target: int) -> Path:
        """``images/<layer of target>/``."""
        return self.run_dir / "images" / safe_name(self.targets[target][0])

    def unit_path(self, unit: int, variant: int, suffix: str = ".png", target: int = 0) -> Path:
        """``images/<layer>/unit_00130<suffix>`` (``_v<k>`` per variant when there are several)."""
        return self.unit_dir_of(target) / f"{image_stem(unit, variant, self.variants)}{suffix}"

    def path_of(self, finished: FinishedUnits, i: int, suffix: str = ".png") -> Path:
        """:meth:`unit_path` of image ``i`` of ``finished``."""
        unit, variant, target = finished.key(i)
        return self.unit_path(unit, variant, suffix, target)

    def relative(self, path: str | os.PathLike) -> str:
        """``path`` relative to the run directory, as stored in records."""
        return str(Path(path).relative_to(self.run_dir))

    def done_keys(self) -> set[tuple[int, int]]:
        """``(target, unit)`` of every unit of this writer's targets whose every variant has a record of a complete
        image in the run folder (what a continued run need not render again)."""
        layers = {layer: t for t, (layer, _) in enumerate(self.targets)}
        complete: dict[tuple[int, int], set[int]] = {}
        for record in iter_records(self.run_dir):
            target = layers.get(record.get("layer"))
            if target is None or not record_is_complete(record):
                continue
            complete.setdefault((target, int(record["unit"])), set()).add(int(record.get("variant", 0)))
        return {key for key, variants in complete.items() if len(variants) >= self.variants}

    def record(self, finished: FinishedUnits, i: int) -> UnitRecord:
        """The record of image ``i`` of ``finished``."""
        unit, variant, target = finished.key(i)
        layer, objective = self.targets[target]
        names = self.class_names if layer == OUTPUT else None
        return UnitRecord(
            unit=unit, variant=variant, layer=layer, objective=objective,
            activation=float(finished.activations[i]),
            seed=unit_seed(self.base_seed, unit, variant, STREAM_INIT), base_seed=self.base_seed,
            image=self.relative(self.path_of(finished, i)), size=list(finished.images.shape[-2:]),
            rank=self.rank, steps=self.steps, files=finished.files[i],
            extras=strict_json(finished.extras[i]),  # callbacks' numbers: e.g. a -inf "none yet" is stored as null
            label=names[unit] if names is not None and unit < len(names) else None,
            steps_done=self.steps if finished.steps_done is None else int(finished.steps_done),
        )

    def write_units(self, finished: FinishedUnits) -> list[UnitRecord]:
        """Save the PNG and the record (``.json`` beside it) of every valid image of ``finished``."""
        self.check_finite(finished)
        records = []
        for i in range(len(finished.units)):
            if not finished.valid[i]:
                continue
            record = self.record(finished, i)
            save_png(self.run_dir / record.image, finished.images[i])
            write_json(self.path_of(finished, i, ".json"), record.to_json())
            records.append(record)
        return records

    def check_finite(self, finished: FinishedUnits) -> None:
        """Refuse (:class:`~lit_actmax.errors.DivergenceError`, before any file is written) a group whose valid images
        or activations hold a NaN or infinity: a diverged image is never saved as a black or saturated PNG."""
        valid = torch.tensor(finished.valid, dtype=torch.bool)
        images = torch.isfinite(finished.images.detach().float().cpu()).flatten(1).all(1)
        activations = torch.isfinite(torch.as_tensor(finished.activations).detach().float().cpu().flatten())
        rows = (valid & ~(images & activations)).nonzero().flatten().tolist()
        named = len(self.targets) > 1  # units across layers: name them "<layer>:<id>"
        bad = sorted({f"{self.targets[finished.targets[i]][0]}:{finished.units[i]}" if named else finished.units[i]
                      for i in rows})
        if bad:
            raise DivergenceError(
                f"{'Units ' + str(bad) if len(bad) > 1 else f'Unit {bad[0]}'} finished with a non-finite image or "
                f"activation, so nothing of this group is written; lower the optimizer's learning rate or the "
                f"regularizer weights (or check the callbacks that change the final images).")

    def write_index(self, summary: RunSummary, wanted: set[tuple[str, int, int]], tile: int = 128,
                    entries: dict[str, Any] | None = None) -> Path:
        """Write ``index.json`` from the per-unit records of every rank (only those in ``wanted``, ``(layer, unit,
        variant)`` triples) and one grid PNG per layer; ``entries`` are extra top-level fields (e.g. run metrics)."""
        records = [r for r in iter_records(self.run_dir) if (r["layer"], r["unit"], r["variant"]) in wanted]
        grids = {}
        for layer in sorted({r["layer"] for r in records}):
            rows = [r for r in records if r["layer"] == layer]
            labels = [f"{r['unit']}" + (f" {r['label']}" if r.get("label") else "") for r in rows]
            sheet = contact_sheet([self.run_dir / r["image"] for r in rows], labels, tile=tile)
            grid_path = self.run_dir / "grids" / f"{safe_name(layer)}.png"
            save_png(grid_path, sheet)
            grids[layer] = self.relative(grid_path)
        index = {"format": INDEX_FORMAT, **dataclasses.asdict(summary), "grids": grids, "units": records}
        index.update(strict_json(entries or {}))  # callbacks' numbers: an undefined one (NaN) is stored as null
        path = self.run_dir / "index.json"
        write_json(path, index)
        return path


def jsonable(value: Any) -> Any:
    """``value`` with every leaf a JSON type (other objects become their ``repr``, a NaN or infinity None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
