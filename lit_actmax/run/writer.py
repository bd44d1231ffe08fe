"""Writes a run's output into its folder (:mod:`lit_actmax.run.folders` makes it): PNGs, records, grids, the index.

Layout::

    <out_dir>/<name>/version_<k>/
        config.yaml                       resolved config (CLI runs)
        index.json                        one record per rendered image, written once at the end
        images/<layer>/unit_00130.png     one PNG per unit (``_v<k>`` suffix per variant when several)
        images/<layer>/unit_00130.json    the unit's record, written with its PNG (survives a crash)
        grids/<layer>.png                 contact sheet per layer

:class:`RunWriter` writes a run's output: the PNG and record of every finished unit (:class:`UnitRecord`), then
``index.json`` (:class:`RunSummary` + the records; format :data:`INDEX_FORMAT`, :mod:`lit_actmax.run.records`) and the
grids, every file atomically (:mod:`lit_actmax.run.files`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Sequence

import torch

from ..backbones.probe import OUTPUT
from ..core.seeding import STREAM_INIT, unit_seed
from ..errors import ConfigError, DivergenceError
from ..image.contact_sheet import contact_sheet
from ..image.io import save_png
from .files import layer_folder, strict_json, write_json
from .records import INDEX_FORMAT, FinishedUnits, RunSummary, UnitRecord, image_stem, iter_records
from .storage import AnyPath, Location, location

if TYPE_CHECKING:
    from ..core.renderer import Renderer

__all__ = ["RunWriter"]


class RunWriter:
    """Writes one run's images, records, grids and index into ``run_dir`` (see the module docstring).

    Args:
        run_dir: the run's folder (made by :func:`new_run_dir`): local or at an fsspec URL
            (:mod:`lit_actmax.run.storage`).
        layer: the objective's main layer; images go to ``images/<layer_folder(layer)>/``.
        variants: images per unit (decides the file stems, see :func:`image_stem`).
        objective: the objective's description, stored in every record.
        targets: in a run of units across layers, ``(layer, objective description)`` of each target (target ``t``'s
            images go to ``images/<layer_folder(layer)>/``); None: one target, ``(layer, objective)``.
        base_seed: the run's seed; each record also gets its unit's own initialization seed.
        steps: optimizer steps per image.
        rank: the process writing (stored in records).
        class_names: the class names of the ``"output"`` layer: records of that layer get ``label``; None: none.
    """

    def __init__(self, run_dir: AnyPath, layer: str, variants: int = 1, objective: str = "",
                 base_seed: int = 0, steps: int = 0, rank: int = 0, class_names: Sequence[str] | None = None,
                 targets: Sequence[tuple[str, str]] | None = None) -> None:
        self.run_dir: Location = location(run_dir, "run_dir")
        self.targets = [(str(a), str(b)) for a, b in targets] if targets else [(layer, objective)]
        self.layer, self.objective = self.targets[0]
        self.variants = int(variants)
        self.base_seed, self.steps, self.rank = int(base_seed), int(steps), int(rank)
        self.class_names = list(class_names) if class_names is not None else None
        folders = [layer_folder(layer) for layer, _ in self.targets]
        if len(set(folders)) != len(set(layer for layer, _ in self.targets)):  # a digest collision: never seen
            raise ConfigError(f"Two layers of {[layer for layer, _ in self.targets]} would share a folder; rename one.")

    @classmethod
    def of(cls, run_dir: AnyPath, renderer: Renderer, variants: int, steps: int, rank: int = 0) -> RunWriter:
        """The writer of ``renderer``'s images into ``run_dir``: one folder of records per target layer, records
        describing each target's objective, labels from the backbone's class names."""
        targets = [(renderer.target_layer(t), renderer.describe_target(t)) for t in range(renderer.num_targets)]
        return cls(run_dir, targets[0][0], variants, targets[0][1], renderer.seed, steps, rank,
                   renderer.backbone_info.class_names, targets=targets)

    @property
    def unit_dir(self) -> Location:
        """The folder of the per-unit files (of target 0; :meth:`unit_dir_of` for others)."""
        return self.unit_dir_of(0)

    def unit_dir_of(self, target: int) -> Location:
        """``images/<layer of target>/``."""
        return self.run_dir / "images" / layer_folder(self.targets[target][0])

    def unit_path(self, unit: int, variant: int, suffix: str = ".png", target: int = 0) -> Location:
        """``images/<layer>/unit_00130<suffix>`` (``_v<k>`` per variant when there are several)."""
        return self.unit_dir_of(target) / f"{image_stem(unit, variant, self.variants)}{suffix}"

    def path_of(self, finished: FinishedUnits, i: int, suffix: str = ".png") -> Location:
        """:meth:`unit_path` of image ``i`` of ``finished``."""
        unit, variant, target = finished.key(i)
        return self.unit_path(unit, variant, suffix, target)

    def relative(self, path: AnyPath) -> str:
        """``path`` relative to the run directory, as stored in records."""
        return str(location(path).relative_to(self.run_dir))

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
                    entries: dict[str, Any] | None = None) -> Location:
        """Write ``index.json`` from the per-unit records of every rank (only those in ``wanted``, ``(layer, unit,
        variant)`` triples) and one grid PNG per layer; ``entries`` are extra top-level fields (e.g. run metrics)."""
        records = [r for r in iter_records(self.run_dir) if (r["layer"], r["unit"], r["variant"]) in wanted]
        grids = {}
        for layer in sorted({r["layer"] for r in records}):
            rows = [r for r in records if r["layer"] == layer]
            labels = [f"{r['unit']}" + (f" {r['label']}" if r.get("label") else "") for r in rows]
            sheet = contact_sheet([self.run_dir / r["image"] for r in rows], labels, tile=tile)
            grid_path = self.run_dir / "grids" / f"{layer_folder(layer)}.png"
            save_png(grid_path, sheet)
            grids[layer] = self.relative(grid_path)
        index = {"format": INDEX_FORMAT, **dataclasses.asdict(summary), "grids": grids, "units": records}
        index.update(strict_json(entries or {}))  # callbacks' numbers: an undefined one (NaN) is stored as null
        path = self.run_dir / "index.json"
        write_json(path, index)
        return path
