"""Run folders: one folder per run (``<out_dir>/<name>/version_<k>``, never reused silently), checked before anything
is written, and removed again when a run fails before finishing a unit; a continued folder (``run_dir``) keeps its
settings in :data:`SETTINGS_FILE`. ``out_dir`` may be an fsspec URL (:mod:`lit_actmax.run.storage`); there a
``version_<k>`` is taken by listing, as Lightning's loggers take theirs (object stores have no atomic ``mkdir``).
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from ..errors import ConfigError
from .files import safe_name
from .storage import AnyPath, Location, RemotePath, location, remove_tree

__all__ = ["SETTINGS_FILE", "check_writable", "new_run_dir", "remove_if_unused", "run_name_of"]

#: A continued run folder's settings (``ActMaxModule(run_dir=...)``): what every image in it was made with.
SETTINGS_FILE = "settings.json"


def run_name_of(backbone: str, run_name: str | None = None) -> str:
    """The name of a run's folder under ``out_dir``: ``run_name``, else the backbone spec made a folder name
    (``torchvision:resnet50`` -> ``resnet50``)."""
    return safe_name(run_name or backbone.replace("torchvision:", "").replace(":", "_"))


def new_run_dir(out_dir: AnyPath, name: str) -> Location:
    """Create and return ``out_dir/name/version_<k>`` with the next free ``k`` (a local mkdir is atomic)."""
    base = location(out_dir, "out_dir") / safe_name(name)
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


def check_writable(out_dir: AnyPath, what: str = "out_dir") -> None:
    """Raise :class:`~lit_actmax.errors.ConfigError` unless run folders can be made under ``out_dir`` (it exists as a
    writable folder, or its nearest existing parent is one; at a URL: its filesystem package is there and it can be
    reached); nothing is created. ``what`` names it in the sentence (``out_dir``, ``run_dir``)."""
    folder = location(out_dir, what)
    if isinstance(folder, RemotePath):
        _check_reachable(folder, what)
        return
    path = folder.absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise ConfigError(f"{what} {str(out_dir)!r} cannot be created: {str(existing)!r} is not a folder; pick another {what}.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(out_dir)!r} cannot be written: {str(existing)!r} is not writable; pick another {what}.")


def _check_reachable(folder: RemotePath, what: str) -> None:
    """:class:`ConfigError` unless ``folder``, a folder above it or its bucket exists on its filesystem (a local
    filesystem's is checked as a local folder)."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(folder.fs, LocalFileSystem):
        check_writable(folder.path, what)
        return
    above = [folder]
    while above[-1].parent.path not in ("", ".") and above[-1].parent != above[-1]:
        above.append(above[-1].parent)
    try:
        reached = any(p.exists() for p in above)
    except Exception as error:  # noqa: BLE001 - credentials, network, permissions: each filesystem raises its own
        first = (str(error).strip().splitlines() or [""])[0][:160]
        raise ConfigError(f"{what} {folder} cannot be reached ({type(error).__name__}: {first}); check the "
                          "filesystem's credentials and options (FSSPEC_<PROTOCOL>_* variables).") from None
    if not reached:
        raise ConfigError(f"{what} {folder} cannot be reached: neither it nor its bucket exists; create the bucket or "
                          f"pick another {what}.")


def remove_if_unused(run_dir: AnyPath, kept: Sequence[str] = ("config.yaml", "settings.json")) -> bool:
    """Remove ``run_dir`` (and its ``images``/``grids`` folders) if it holds no file but ``kept`` ones: a run that
    failed before finishing a unit leaves nothing behind. Returns whether it was removed."""
    run_dir = location(run_dir)
    if not run_dir.is_dir() or any(p.is_file() and p.name not in kept for p in run_dir.rglob("*")):
        return False
    remove_tree(run_dir)
    parent = run_dir.parent
    if parent.is_dir() and not any(parent.iterdir()):  # the run name's folder, made for this run only
        parent.rmdir()
    return True
