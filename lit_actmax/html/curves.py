"""A unit's activation curve (``activation_curve`` in its record, from the ``ActivationCurves`` callback): read it and
draw it as an inline SVG line. Plain Python."""

from __future__ import annotations

import math
from typing import Any, Sequence

from .markup import escape, format_value

__all__ = ["curve_values", "curve_svg", "curve_box"]


def curve_values(record: dict[str, Any]) -> tuple[list[float], int]:
    """A record's curve as (values, steps per point): ``{"values", "steps_per_point"}`` or ``{"value", "step"}``."""
    curve = record.get("activation_curve")
    if not isinstance(curve, dict):
        return [], 1
    values = curve.get("values", curve.get("value", []))
    steps = curve.get("steps_per_point")
    if steps is None and isinstance(curve.get("step"), list) and len(curve["step"]) > 1:
        steps = max(1, round((curve["step"][-1] - curve["step"][0]) / (len(curve["step"]) - 1)))
    return [v for v in values if isinstance(v, (int, float))], int(steps or 1)


def curve_svg(values: Sequence[float], width: int = 150, height: int = 44, steps_per_point: int = 1) -> str:
    """An inline SVG line of ``values`` (one per epoch or step) with its first and last value, or '' if empty."""
    points = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not points:
        return ""
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    pad = 3
    n = len(points)
    xy = [(pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5),
           pad + (height - 2 * pad) * (1 - (v - low) / span)) for i, v in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    title = (f"activation during optimization: {points[0]:.3g} to {points[-1]:.3g} "
             f"(max {high:.3g}) over {n * steps_per_point} steps")
    return (f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img"><title>{escape(title)}</title>'
            f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="#ccc"/>'
            f'<polyline fill="none" stroke="#d9480f" stroke-width="1.5" points="{path}"/>'
            f'<circle cx="{xy[-1][0]:.1f}" cy="{xy[-1][1]:.1f}" r="2" fill="#d9480f"/></svg>')


def curve_box(record: dict[str, Any], width: int, height: int) -> str:
    """A record's curve with its first and last value under it (``<div class="curvebox">``), or '' without one."""
    values, steps = curve_values(record)
    svg = curve_svg(values, width=width, height=height, steps_per_point=steps)
    if not svg:
        return ""
    return f'<div class="curvebox">{svg}<span>activation {format_value(values[0])} → {format_value(values[-1])}</span></div>'
