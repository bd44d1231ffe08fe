"""Continued run folders (``ActMaxModule(run_dir=...)``, what ``lit-actmax atlas`` uses): a fixed folder that several
runs fill, each rendering only the units it lacks.

A folder only ever holds images of one set of settings: :func:`folder_settings` is a run's fingerprint without what
does not change a unit's image (the units and the world size), and :func:`check_folder` compares it with the folder's
``settings.json`` (writing it into a new folder), refusing any difference with one sentence, then lists the units the
folder holds complete (``RunWriter.done_keys``). Plain Python: the module calls it on global rank 0 and broadcasts the
answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError
from .checkpoint_state import describe_differences, fingerprint_differences
from .files import read_json, write_json
from .folders import SETTINGS_FILE
from .writer import RunWriter

__all__ = ["check_folder", "folder_settings"]


def folder_settings(fingerprint: Mapping[str, Any], across_layers: bool, objective_kind: str = "auto") -> dict[str, Any]:
    """What must be equal for images of two runs to share a folder: ``fingerprint``
    (:func:`~lit_actmax.run.checkpoint_state.fingerprint`) without the units and the world size (neither changes a
    unit's image); with units across layers the objective is the kind per layer (``"per layer: auto"``), so a run
    with more layers continues the folder."""
    settings = {k: v for k, v in fingerprint.items() if k not in ("units", "world_size")}
    if across_layers:
        settings["objective"] = f"per layer: {objective_kind}"
    return settings


def check_folder(writer: RunWriter, settings: Mapping[str, Any]) -> set[tuple[int, int]]:
    """Compare ``settings`` (:func:`folder_settings`) with ``settings.json`` of the writer's folder (write it when the
    folder has none) and return the ``(target, unit)`` pairs the folder holds complete; :class:`ConfigError` naming
    each difference when the settings differ, or when the folder holds images but no settings."""
    run_dir = Path(writer.run_dir)
    path = run_dir / SETTINGS_FILE
    if not path.is_file():
        if any(run_dir.glob("images/*/unit_*.json")):
            raise ConfigError(f"{run_dir} holds images but no {SETTINGS_FILE}, so their settings are unknown; "
                              "continue only folders made with run_dir, or pick a new folder.")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(path, dict(settings))
        return set()
    differences = fingerprint_differences(read_json(path), settings)
    if differences:
        raise ConfigError(f"The images in {run_dir} were made with other settings: "
                          f"{describe_differences(differences)}; use those settings or another run_dir.")
    return writer.done_keys()
