"""Files lit_actmax writes: atomic writes (readers never see half a file), strict JSON, file-system safe names.

Plain Python (and numpy/torch for the values JSON receives); every file of a run goes through these. A path may be
local or at an fsspec URL (:mod:`lit_actmax.run.storage`): a local one is written as always, through a temporary file
and a rename; a :class:`~lit_actmax.run.storage.RemotePath` as its filesystem writes a whole file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .storage import AnyPath, Location, RemotePath, location

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "jsonable", "layer_folder", "read_json", "remove_partial_writes",
    "safe_name", "strict_json", "write_json",
]


def safe_name(text: str) -> str:
    """A file-system safe version of a run name (or a tag): characters other than ``A-Za-z0-9_.=-`` become ``_``.
    Two names may give the same one; a layer's folder is :func:`layer_folder`."""
    cleaned = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._")
    return cleaned or "_"


#: A layer name that is its own folder: ``A-Za-z0-9_.=-``, not hidden or an option (no leading ``.`` or ``-``), no trailing ``.``.
FOLDER_SAFE_LAYER = re.compile(r"[A-Za-z0-9_=](?:[A-Za-z0-9_.=-]*[A-Za-z0-9_=-])?")


def layer_folder(layer: str) -> str:
    """The file name of a layer's folder (``images/<it>/``, ``grids/<it>.png``, ``examples/<it>/``, the site's pages):
    the layer's own name where it is already file-system safe (``features.2``, ``_blocks.8``), else :func:`safe_name`
    of it and a digest of the name after a ``~`` (``blocks.0#1`` -> ``blocks.0_1~5c2f0b7a91``). A safe name holds no
    ``~``, so two different layers never share a folder (``a#0`` and ``a_0``, or ``_x`` and ``x``, would under
    ``safe_name``)."""
    if FOLDER_SAFE_LAYER.fullmatch(layer):
        return layer
    return f"{safe_name(layer)}~{hashlib.sha1(layer.encode('utf-8')).hexdigest()[:10]}"


def remove_partial_writes(folder: AnyPath) -> list[Location]:
    """Remove the temporary files that :func:`atomic_write_bytes` leaves when its process is killed mid-write
    (``.<name>.<random>.tmp``, anywhere under ``folder``); returns them. Call it only while nothing writes there."""
    found = [p for p in location(folder).rglob(".*.tmp") if p.is_file()]
    for path in found:
        path.unlink(missing_ok=True)
    return found


def atomic_write_bytes(path: AnyPath, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file (a
    :class:`~lit_actmax.run.storage.RemotePath` is written whole by its filesystem)."""
    path = location(path)
    if isinstance(path, RemotePath):
        path.write_bytes(data)
        return
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


def atomic_write_text(path: AnyPath, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: AnyPath, data: Any) -> None:
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


def read_json(path: AnyPath) -> Any:
    return json.loads(location(path).read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (Path, RemotePath)):
        return str(value)
    return repr(value)


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
