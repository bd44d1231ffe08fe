"""The "over training" view of a unit page: the unit's image at each render of a watched training (the ``evolution``
of its records, :mod:`lit_actmax.run.evolution`), in training order, captioned by step, epoch and activation, with
links to its strip and animation. Plain Python; '' for units of runs that were not watched."""

from __future__ import annotations

import os
from typing import Any

from .markup import RunFiles, escape, format_value
from .records import Unit
from .unit_card import image_figure

__all__ = ["FRAME_SIDE", "over_training_view"]

#: Longest side of each frame on a unit page, in CSS pixels.
FRAME_SIDE = 128


def _frames(record: dict[str, Any]) -> list[dict[str, Any]]:
    frames = record.get("evolution")
    return [f for f in frames if isinstance(f, dict) and isinstance(f.get("image"), str)] if isinstance(frames, list) else []


def _caption(frame: dict[str, Any]) -> str:
    """``start`` (before the first step), else ``step 120, epoch 3``."""
    caption = str(frame.get("caption") or f"step {frame.get('step')}")
    return caption if frame.get("step") == 0 else f"{caption}, epoch {frame.get('epoch', '?')}"


def over_training_view(unit: Unit, files: RunFiles, page_dir: str | os.PathLike, side: int = FRAME_SIDE) -> str:
    """``<section class="over-training">``: per variant of ``unit``, each render's frame that exists (caption: "start" or step
    and epoch; title: the activation), then links to the strip and the animation; '' when no record of the
    unit has an ``evolution``."""
    parts = []
    for record in unit.records:
        frames = [f for f in _frames(record) if files.exists(f["image"])]
        if not frames:
            continue
        tag = f"variant {record.get('variant', 0)}: " if unit.several else ""
        figures = "".join(
            image_figure(files, page_dir, f["image"], _caption(f),
                         f"unit {unit.unit} at step {f.get('step')}: activation {format_value(f.get('activation'))}",
                         side, record.get("size"), lazy=True)
            for f in frames)
        links = [f'<a href="{files.url(path, page_dir)}">{escape(name)}</a>'
                 for name, path in sorted((record.get("files") or {}).items())
                 if name in ("strip", "animation") and files.exists(path)]
        parts.append(f'<h3>{escape(tag)}{len(frames)} renders</h3><div class="figures">{figures}</div>'
                     + (f'<p class="files">{" ".join(links)}</p>' if links else ""))
    return f'<section class="over-training"><h2>over training</h2>{"".join(parts)}</section>' if parts else ""
