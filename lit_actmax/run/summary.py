"""The end of a run: the run-level fields of ``index.json`` (:class:`~lit_actmax.run.records.RunSummary`), which
images it lists, and the sentence that says where everything is. Plain Python over the renderer and schedule."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .files import jsonable
from .records import RunSummary
from .storage import Location

if TYPE_CHECKING:
    from ..core.renderer import Renderer
    from ..core.schedule import UnitSchedule

__all__ = ["outputs_message", "requested_images", "run_summary"]


def run_summary(backbone: str, renderer: Renderer, schedule: UnitSchedule, config: Mapping[str, Any]) -> RunSummary:
    """The run-level fields of ``index.json``: backbone spec, objective, regularizers, layers, parameterization, size,
    steps, seed, world size and the run's ``config`` (its hyperparameters, made JSON-able)."""
    return RunSummary(
        backbone=backbone, objective=renderer.objective.describe(),
        regularizers=[r.describe() for r in renderer.regularizers], layers=renderer.layers,
        param=type(renderer.param).__name__, size=list(renderer.size), steps_per_unit=schedule.steps_per_unit,
        seed=renderer.seed, world_size=schedule.world_size, config=jsonable(dict(config)),
    )


def requested_images(renderer: Renderer, keys: Iterable[tuple[int, int]], variants: int) -> set[tuple[str, int, int]]:
    """``(layer, unit, variant)`` of every image of the ``(target, unit)`` ``keys`` a run was asked for: what its
    index lists (a continued folder may hold more)."""
    return {(renderer.target_layer(t), u, v) for t, u in keys for v in range(variants)}


def outputs_message(index: Mapping[str, Any], run_dir: Location) -> str:
    """``Rendered 8 units into <run>: images/output/, grids/output.png, index.json (gallery: lit-actmax gallery <run>)``
    from the run's ``index.json`` contents."""
    rendered = len({(r["layer"], r["unit"]) for r in index["units"]})
    folders = sorted({str(Path(r["image"]).parent) + "/" for r in index["units"]})
    files = [*folders, *index["grids"].values(), "index.json"]
    return (f"Rendered {rendered} unit{'s' * (rendered != 1)} into {run_dir}: {', '.join(files)} "
            f"(gallery: lit-actmax gallery {run_dir})")
