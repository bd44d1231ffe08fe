"""Activation curves: read from a record in either of its formats and drawn as an inline SVG line."""

from __future__ import annotations

import re

from lit_actmax.html.curves import curve_box, curve_svg, curve_values


def test_curve_svg_draws_the_values():
    svg = curve_svg([0.0, 1.0, 3.0], width=100, height=40)
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert [x for x, _ in points] == sorted(x for x, _ in points) and points[0][1] > points[1][1] > points[2][1]
    assert curve_svg([]) == "" and curve_svg([float("nan")]) == ""


def test_curve_values_read_both_formats():
    assert curve_values({"activation_curve": {"values": [1, 2, None], "steps_per_point": 4}}) == ([1, 2], 4)
    assert curve_values({"activation_curve": {"value": [1.0, 2.0, 3.0], "step": [0, 10, 20]}}) == ([1.0, 2.0, 3.0], 10)
    assert curve_values({}) == ([], 1)


def test_curve_box_shows_the_first_and_last_value():
    box = curve_box({"activation_curve": {"values": [0.5, 2.25]}}, 120, 30)
    assert box.startswith('<div class="curvebox"><svg class="curve" width="120" height="30"')
    assert "activation 0.5 → 2.25" in box and curve_box({}, 120, 30) == ""
