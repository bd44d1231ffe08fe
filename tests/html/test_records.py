"""Reading a run's records for the pages: index and records together, units by layer in model order, their numbers."""

from __future__ import annotations

import pytest

from lit_actmax import ConfigError
from lit_actmax.html.records import (
    Unit,
    group_units,
    incomplete_steps,
    layer_order,
    load_examples,
    load_run,
    ordered_files,
    record_numbers,
)
from lit_actmax.run.files import write_json


def record(layer: str, unit: int, variant: int = 0, **fields) -> dict:
    return {"layer": layer, "unit": unit, "variant": variant, "image": f"images/{layer}/unit_{unit:05d}_v{variant}.png",
            "steps": 8, **fields}


def test_layer_order_follows_the_index_then_natural_names():
    records = [{"layer": name} for name in ("output", "features.10", "features.9", "head")]
    assert layer_order({}, records) == ["features.9", "features.10", "head", "output"]
    assert layer_order({"layers": ["output", "missing", "features.10"]}, records) == [
        "output", "features.10", "features.9", "head"]


def test_units_are_grouped_by_layer_with_their_variants_and_best_activation():
    records = [record("b", 1, 1, activation=float("nan")), record("b", 1, 0, activation=2.0, label="cat"),
               record("a.10", 0, activation=1.0), record("a.9", 3)]
    layers = group_units({}, records)
    assert list(layers) == ["a.9", "a.10", "b"]
    unit = layers["b"][0]
    assert isinstance(unit, Unit) and [r["variant"] for r in unit.records] == [0, 1] and unit.several
    assert unit.activation == 2.0 and unit.shown["variant"] == 0 and unit.label == "cat"
    assert layers["a.9"][0].activation is None and layers["a.9"][0].shown["unit"] == 3  # no activation: variant 0


def test_load_run_adds_the_records_the_index_does_not_list(tmp_path):
    listed, extra = record("a", 0), record("a", 1)
    write_json(tmp_path / "index.json", {"units": [listed]})
    for r in (listed, extra):
        write_json(tmp_path / r["image"].replace(".png", ".json"), r)
    index, records = load_run(tmp_path)
    assert index["units"] == [listed] and records == [listed, extra]
    with pytest.raises(ConfigError, match="holds no rendered units"):
        load_run(tmp_path / "empty")


def test_examples_are_read_by_layer_and_unreadable_ones_left_out(tmp_path):
    write_json(tmp_path / "examples" / "a_b" / "examples.json", {"layer": "a.b", "units": {}})
    (tmp_path / "examples" / "broken").mkdir()
    (tmp_path / "examples" / "broken" / "examples.json").write_text("{")
    assert list(load_examples(tmp_path)) == ["a.b"]


def test_a_units_numbers_files_and_incomplete_steps():
    r = record("a", 0, activation=1.5, files={"sketch": "s.png", "gif": "g.gif", "best": "b.png", "bad": 3},
               best_step=6, quality={"tv": 0.1, "per_unit": [1, 2]}, steps_done=5)
    assert ordered_files(r) == [("best", "b.png"), ("gif", "g.gif"), ("sketch", "s.png")]
    assert record_numbers(r) == [("activation", 1.5), ("best_step", 6), ("quality.tv", 0.1), ("steps_done", 5)]
    assert incomplete_steps([record("a", 0), r]) == "5 of 8 steps" and incomplete_steps([record("a", 0)]) == ""
