"""Run folders: one folder per run (``<out_dir>/<name>/version_<k>``, never reused silently), checked before anything
is written, and removed again when a run fails before finishing a unit; a continued folder (``run_dir``) keeps its
settings in :data:`SETTINGS_FILE`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from .files import safe_name

__all__ = ["SETTINGS_FILE", "check_writable", "new_run_dir", "remove_if_unused", "run_name_of"]

#: A continued run folder's settings (``ActMaxModule(run_dir=...)``): what every image in it was made with.
SETTINGS_FILE = "settings.json"


def run_name_of(backbone: str, run_name: str | None = None) -> str:
    """The name of a run's folder under ``out_dir``: ``run_name``, else the backbone spec made a folder name
    (``torchvision:resnet50`` -> ``resnet50``)."""
    return safe_name(run_name or backbone.replace("torchvision:", "").replace(":", "_"))


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
