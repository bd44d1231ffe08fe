"""Units across layers: layer patterns, the per-layer objective, and runs of many layers (lit_actmax.core.layer_selection)."""

from __future__ import annotations

import json

import pytest
import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit, Compose, Pixel
from lit_actmax.callbacks import KeepImages
from lit_actmax.core.layer_selection import match_layers, select_layers
from lit_actmax.core.renderer import Renderer
from lit_actmax.core.schedule import UnitImage
from lit_actmax.errors import ConfigError
from lit_actmax.objectives.per_layer import PerLayer
from lit_actmax.testing import tiny_backbone

TINY = "lit_actmax.testing:tiny_backbone"
NAMES = ["features", "features.0", "features.1", "features.2", "features.3", "features.4", "features.5", "pool",
         "classifier", "classifier.0", "classifier.1"]
SETTINGS = dict(backbone=TINY, size=32, batch_size=4, steps_per_epoch=3, epochs=2, param=Pixel(), transforms=Compose([]),
                seed=3, optimizer=lambda p: torch.optim.Adam(p, lr=0.1))


# -- patterns ----------------------------------------------------------------------------------------------
def test_a_star_matches_within_one_dotted_part_and_two_stars_across_parts():
    assert match_layers("features.*", NAMES) == [f"features.{i}" for i in range(6)]
    assert match_layers("features.[02]", NAMES) == ["features.0", "features.2"]
    assert match_layers("**.1", NAMES) == ["features.1", "classifier.1"]
    assert match_layers("features", NAMES) == ["features"]
    assert match_layers("feature", NAMES) == []


def test_layers_come_in_model_order_with_output_last_and_the_later_key_wins():
    chosen = select_layers({"output": "0-2", "features.4": 3, "features.[24]": "all"}, NAMES)
    assert chosen == [("features.2", "all"), ("features.4", "all"), ("output", "0-2")]


def test_a_key_that_matches_no_layer_names_the_closest_ones():
    with pytest.raises(ConfigError, match=r"'featurs.2' matches no layer.*Closest names: features.2"):
        select_layers({"featurs.2": "all"}, NAMES)


def test_a_batch_of_a_shallow_layer_stops_the_forward_there():
    backbone = tiny_backbone()
    calls = []
    backbone.model.classifier.register_forward_hook(lambda *_: calls.append(1))
    renderer = Renderer(backbone, PerLayer([Channel("features.2"), ClassLogit()]), size=32, param=Pixel(),
                        transforms=Compose([]))
    renderer.validate([0, 1], [0, 1])
    renderer.attach()
    calls.clear()
    renderer.start([UnitImage(3, 0, True, 0), UnitImage(4, 0, True, 0)])
    renderer.loss(0)
    assert calls == []  # only features.2 was needed
    renderer.start([UnitImage(3, 0, True, 0), UnitImage(4, 0, True, 1)])
    renderer.loss(0)
    assert calls == [1]  # one image needs the output
    renderer.detach()


# -- runs --------------------------------------------------------------------------------------------------
def kept_run(make_trainer, tmp_path, units, **overrides):
    keep = KeepImages()
    module = ActMaxModule(units=units, out_dir=str(tmp_path / "runs"), **{**SETTINGS, **overrides})
    make_trainer(callbacks=[keep]).fit(module)
    return module, keep


def test_a_run_across_layers_equals_the_runs_of_each_layer(tmp_path, make_trainer):
    module, keep = kept_run(make_trainer, tmp_path, {"features.2": "0-2", "output": "1,4"}, batch_size=3)
    index = json.loads((module.run_dir / "index.json").read_text())
    assert sorted((r["layer"], r["unit"], r["objective"]) for r in index["units"]) == [
        ("features.2", 0, "Channel(features.2)"), ("features.2", 1, "Channel(features.2)"),
        ("features.2", 2, "Channel(features.2)"), ("output", 1, "ClassLogit(output)"), ("output", 4, "ClassLogit(output)")]
    assert (module.run_dir / "images" / "output" / "unit_00004.png").is_file()
    assert set(index["grids"]) == {"features.2", "output"}
    # the same units, one layer per run (and other batch sizes): the same images
    _, alone = kept_run(make_trainer, tmp_path, "0-2", objective=Channel("features.2"))
    _, classes = kept_run(make_trainer, tmp_path, "1,4", objective=ClassLogit())
    for unit, image in alone.unit_images.items():
        assert torch.equal(keep.target_images(0)[unit], image), unit
    for unit, image in classes.unit_images.items():
        assert torch.equal(keep.target_images(1)[unit], image), unit


def test_all_means_every_channel_and_unit_ranges_are_checked_per_layer(tmp_path):
    module = ActMaxModule(units={"features.*": "all"}, save_outputs=False, **SETTINGS)
    counts = {}
    for target, _ in module.schedule.keys:
        layer = module.renderer.target_layer(target)
        counts[layer] = counts.get(layer, 0) + 1
    assert counts == {"features.0": 8, "features.1": 8, "features.2": 16, "features.3": 16, "features.4": 16,
                      "features.5": 16}
    with pytest.raises(ConfigError, match=r"Unit 12 is out of range for ClassLogit\(output\): valid units are 0-9"):
        ActMaxModule(units={"features.2": "0-15", "output": "12"}, save_outputs=False, **SETTINGS)
    with pytest.raises(ConfigError, match="applies to units per layer only"):
        ActMaxModule(units="0-1", objective=Channel("features.2"), objective_kind="neuron", save_outputs=False,
                     **SETTINGS)
    with pytest.raises(ConfigError, match="drop objective"):
        ActMaxModule(units={"features.2": "0-1"}, objective=Channel("features.2"), save_outputs=False, **SETTINGS)


def test_a_continued_folder_renders_only_what_is_missing(tmp_path, make_trainer):
    folder = tmp_path / "atlas"
    first, _ = kept_run(make_trainer, tmp_path, {"features.2": "0-2"}, run_dir=str(folder))
    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "images" / "features.2").glob("*.png")}
    assert json.loads((folder / "settings.json").read_text())["objective"] == "per layer: auto"
    second, keep = kept_run(make_trainer, tmp_path, {"features.2": "0-2", "output": "0-1"}, run_dir=str(folder))
    assert sorted(keep.images) == [(0, 0, 1), (1, 0, 1)]  # only the new layer was rendered
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "images" / "features.2").glob("*.png")} == stamps
    index = json.loads((folder / "index.json").read_text())
    assert len(index["units"]) == 5
    # every unit there already: nothing is optimized, the index is rewritten
    third, keep = kept_run(make_trainer, tmp_path, {"features.2": "0-2", "output": "0-1"}, run_dir=str(folder))
    assert keep.images == {} and third.nothing_left
    # other settings: refused before anything is written, naming the difference
    with pytest.raises(ConfigError, match=r"other settings: seed 3 \(now 4\); use those settings or another run_dir"):
        kept_run(make_trainer, tmp_path, {"features.2": "0-3"}, run_dir=str(folder), seed=4)
    assert not (folder / "images" / "features.2" / "unit_00003.png").exists()


def test_a_killed_run_continued_ends_with_the_uninterrupted_images(tmp_path, make_trainer):
    units = {"features.2": "0-3", "output": "0-2"}
    _, whole = kept_run(make_trainer, tmp_path, units, run_dir=str(tmp_path / "whole"))
    keep = KeepImages()
    module = ActMaxModule(units=units, run_dir=str(tmp_path / "cut"), **SETTINGS)
    make_trainer(callbacks=[keep], max_steps=6 + 4).fit(module)  # group 0 (4 units) done, group 1 cut after 4 steps
    records = [json.loads(p.read_text()) for p in (tmp_path / "cut").glob("images/*/unit_*.json")]
    assert sorted(r["steps_done"] for r in records) == [4, 4, 4, 6, 6, 6, 6]  # the cut group is marked
    _, rest = kept_run(make_trainer, tmp_path, units, run_dir=str(tmp_path / "cut"))
    assert sorted(rest.images) == [(0, 0, 1), (1, 0, 1), (2, 0, 1)]  # only the cut group is rendered again
    for target in (0, 1):
        for unit, image in whole.target_images(target).items():
            done = rest.target_images(target).get(unit, keep.target_images(target).get(unit))
            assert torch.equal(done, image), (target, unit)
