"""The run directory: one folder per run, never reused silently, with atomic writes.

Layout::

    <out_dir>/<name>/version_<k>/
        config.yaml                       resolved config (CLI runs)
        index.json                        one record per rendered image, written once at the end
        images/<layer>/unit_00130.png     one PNG per unit (``_v<k>`` suffix per variant when several)
        images/<layer>/unit_00130.json    the unit's record, written with its PNG (survives a crash)
        grids/<layer>.png                 contact sheet per layer
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image

__all__ = [
    "new_run_dir",
    "safe_name",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_png",
    "to_uint8",
    "image_stem",
    "write_json",
    "read_json",
]


def safe_name(text: str) -> str:
    """A file-system safe version of a layer or run name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._")
    return cleaned or "_"


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
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


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
    import io

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
