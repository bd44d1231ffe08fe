"""Continued run folders (``ActMaxModule(run_dir=...)``, what ``lit-actmax atlas`` uses): a fixed folder that several
runs fill, each rendering only the units it lacks, and repairing what a crash or a hand left broken.

A folder only ever holds images of one set of settings: :func:`folder_settings` is a run's fingerprint without what
does not change a unit's image (the units and the world size), and :func:`check_folder` compares it with the folder's
``settings.json`` (writing it into a new folder), refusing any difference, or a settings file that does not parse,
with one sentence. Then it lists the units the folder holds whole (:class:`FolderState`): every variant's record
parses and is of a complete image (``steps_done``), and its PNG and every file the record names are there (a PNG
ending with its ``IEND`` chunk). A unit with a record that does not parse, a missing or truncated PNG, a missing file,
or a PNG without its record is *damaged*: it is not done, so the run renders it again (and says so in one line).
Temporary files of writes that a kill cut short are removed. Plain Python: the module calls it on global rank 0 and
broadcasts the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ConfigError
from .checkpoint_state import describe_differences, fingerprint_differences
from .files import layer_folder, read_json, remove_partial_writes, safe_name, write_json
from .folders import SETTINGS_FILE
from .records import read_record, record_is_complete
from .storage import Location
from .writer import RunWriter

__all__ = ["FolderState", "check_folder", "folder_settings", "read_settings"]

_STEM = re.compile(r"unit_(\d+)(?:_v(\d+))?")
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


@dataclass
class FolderState:
    """What a continued folder holds: ``done``, the ``(target, unit)`` pairs it holds whole (not rendered again), and
    ``damaged``, ``{(target, unit): what is wrong}`` of the units it holds broken (rendered again)."""

    done: set[tuple[int, int]] = field(default_factory=set)
    damaged: dict[tuple[int, int], str] = field(default_factory=dict)

    def damage_line(self, writer: RunWriter, shown: int = 5) -> str | None:
        """One line naming the damaged units (the first ``shown``) and what is wrong with each, or None."""
        if not self.damaged:
            return None
        named = len(writer.targets) > 1
        items = [f"{writer.targets[t][0] + ':' if named else 'unit '}{u} ({why})" for (t, u), why in sorted(self.damaged.items())]
        more = f" and {len(items) - shown} more" if len(items) > shown else ""
        return (f"Rendering {len(items)} damaged unit(s) of {writer.run_dir} again: {', '.join(items[:shown])}{more}.")


def folder_settings(fingerprint: Mapping[str, Any], across_layers: bool, objective_kind: str = "auto") -> dict[str, Any]:
    """What must be equal for images of two runs to share a folder: ``fingerprint``
    (:func:`~lit_actmax.run.checkpoint_state.fingerprint`) without the units and the world size (neither changes a
    unit's image); with units across layers the objective is the kind per layer (``"per layer: auto"``), so a run
    with more layers continues the folder."""
    settings = {k: v for k, v in fingerprint.items() if k not in ("units", "world_size")}
    if across_layers:
        settings["objective"] = f"per layer: {objective_kind}"
    return settings


def read_settings(path: Location) -> dict[str, Any]:
    """The settings in ``path``; :class:`ConfigError` naming the file when it does not parse."""
    try:
        settings = read_json(path)
    except (OSError, ValueError) as error:
        settings, problem = None, f"{type(error).__name__}: {error}"
    else:
        problem = "it does not hold a mapping of settings"
    if not isinstance(settings, dict):
        raise ConfigError(f"{path} does not parse ({problem}), so the settings of the images in {path.parent} are "
                          f"unknown; restore it (the folder's config.yaml holds the settings) or pick another run_dir.")
    return settings


def check_folder(writer: RunWriter, settings: Mapping[str, Any]) -> FolderState:
    """Compare ``settings`` (:func:`folder_settings`) with ``settings.json`` of the writer's folder (write it when the
    folder has none), remove the temporary files of cut-short writes, and return what the folder holds
    (:class:`FolderState`); :class:`ConfigError` naming each difference when the settings differ, when the settings
    file does not parse, or when the folder holds images but no settings."""
    run_dir = writer.run_dir
    path = run_dir / SETTINGS_FILE
    remove_partial_writes(run_dir)
    if not path.is_file():
        if any(run_dir.glob("images/*/unit_*.json")):
            raise ConfigError(f"{run_dir} holds images but no {SETTINGS_FILE}, so their settings are unknown; "
                              "continue only folders made with run_dir, or pick a new folder.")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(path, dict(settings))
        return FolderState()
    differences = fingerprint_differences(read_settings(path), settings)
    if differences:
        raise ConfigError(f"The images in {run_dir} were made with other settings: "
                          f"{describe_differences(differences)}; use those settings or another run_dir.")
    return folder_state(writer)


def folder_state(writer: RunWriter) -> FolderState:
    """The units of the writer's targets that its folder holds whole, and those it holds broken (module docstring).
    Records are found by the layer they name, in any ``images/`` folder (earlier releases named some folders
    otherwise); :class:`ConfigError` when a target's folder holds another layer's units, which it would overwrite."""
    run_dir, state = writer.run_dir, FolderState()
    targets = {layer: t for t, (layer, _) in enumerate(writer.targets)}
    folders = {**{safe_name(layer): t for layer, t in targets.items()},  # the folder names of earlier releases
               **{layer_folder(layer): t for layer, t in targets.items()}}
    complete: dict[tuple[int, int], set[int]] = {}
    for path in sorted(run_dir.glob("images/*/unit_*")):
        found = _STEM.fullmatch(path.stem)
        if found is None or path.suffix not in (".json", ".png"):
            continue
        unit, folder_target = int(found.group(1)), folders.get(path.parent.name)
        if path.suffix == ".png":
            if folder_target is not None and not path.with_suffix(".json").is_file():
                state.damaged.setdefault((folder_target, unit), f"{path.name} has no record")
            continue
        record = read_record(path)
        if record is None:
            if folder_target is not None:
                state.damaged.setdefault((folder_target, unit), f"{path.name} does not parse")
            continue
        target = targets.get(record["layer"])
        if folder_target is not None and path.parent == writer.unit_dir_of(folder_target) and target != folder_target:
            raise ConfigError(f"{path.parent} holds units of layer {record['layer']!r}, which this run's layer "
                              f"{writer.targets[folder_target][0]!r} would overwrite; move that folder away or pick "
                              "another run_dir.")
        if target is None or not record_is_complete(record):
            continue
        problem = _missing_file(run_dir, record)
        if problem is not None:
            state.damaged.setdefault((target, unit), problem)
        else:
            complete.setdefault((target, unit), set()).add(int(record["variant"]))
    state.done = {key for key, variants in complete.items()
                  if len(variants) >= writer.variants and key not in state.damaged}
    return state


def _missing_file(run_dir: Location, record: dict[str, Any]) -> str | None:
    """What is missing of the files ``record`` names (its PNG, then its other files), or None."""
    if not isinstance(record.get("image"), str):
        return "its record names no image"
    image = run_dir / record["image"]
    if not _is_whole_png(image):
        return f"{image.name} is {'truncated' if image.is_file() else 'missing'}"
    for name in (record.get("files") or {}).values():
        path = run_dir / str(name)
        if not path.is_file() or path.stat().st_size == 0 or (path.suffix == ".png" and not _is_whole_png(path)):
            return f"{path.name} is missing or truncated"
    return None


def _is_whole_png(path: Location) -> bool:
    """Whether ``path`` is a PNG file that ends with its ``IEND`` chunk (a copy or a write cut short does not)."""
    try:
        with path.open("rb") as handle:
            start = handle.read(8)
            handle.seek(0, 2)
            if handle.tell() < 20:
                return False
            handle.seek(-8, 2)
            return start == _PNG_START and handle.read(8) == _PNG_END
    except OSError:
        return False
