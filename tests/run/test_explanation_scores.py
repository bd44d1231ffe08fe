"""A run's explanation scores on disk: a folder of synthetic hue units scored with a colour-histogram embedding,
written once, rewritten when a picture changes, refused with one sentence when an example image is missing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from lit_actmax.errors import ConfigError
from lit_actmax.image.io import save_png
from lit_actmax.run.explanation_scores import (
    SCORES_FORMAT,
    add_explanation_scores,
    read_explanation_scores,
    scores_path,
)

LAYER = "features.2"
#: Unit u fires on hue u / 3 (activation cos(2 pi (hue - u / 3))); its picture is an image of hue PICTURE_HUES[u].
PICTURE_HUES = {0: 0.0, 1: 1 / 3, 2: 0.5}


def hue_run(tmp_path: Path, colour_world, k: int = 4, bottom: bool = True) -> Path:
    """A run folder with one layer of 3 units, their pictures and records, and examples.json over 24 hue photos."""
    generator = torch.Generator().manual_seed(0)
    photos, run = tmp_path / "photos", tmp_path / "run"
    hues = torch.arange(24) / 24
    for i, image in enumerate(colour_world.hue_images(hues, 32, generator)):
        save_png(photos / f"hue_{i:02d}.png", image)
    units = {}
    for unit, picture_hue in PICTURE_HUES.items():
        image = f"images/{LAYER}/unit_{unit:05d}.png"
        save_png(run / image, colour_world.hue_images(torch.tensor([picture_hue]), 32, generator)[0])
        (run / image).with_suffix(".json").write_text(json.dumps(
            {"unit": unit, "variant": 0, "layer": LAYER, "image": image, "activation": 1.0}))
        order = torch.cos(2 * math.pi * (hues - unit / 3)).argsort(descending=True).tolist()
        entry = lambda i: {"id": i, "image": f"examples/{LAYER}/thumbs/{i:06d}.jpg", "source": f"hue_{i:02d}.png",  # noqa: E731
                           "activation": 0.0}
        units[str(unit)] = {"top": [entry(i) for i in order[:k]]}
        if bottom:
            units[str(unit)]["bottom"] = [entry(i) for i in order[::-1][:k]]
    (run / "examples" / LAYER).mkdir(parents=True)
    (run / "examples" / LAYER / "examples.json").write_text(json.dumps(
        {"format": "lit_actmax.examples/1", "layer": LAYER, "folder": str(photos.resolve()), "images": 24, "k": k,
         "size": 32, "units": units}))
    return run


def test_each_unit_is_scored_and_the_file_is_rewritten_only_when_a_picture_changes(tmp_path, colour_world):
    run = hue_run(tmp_path, colour_world)
    [layer] = add_explanation_scores(run, colour_world)
    assert layer.layer == LAYER and layer.units == 3 and layer.computed
    saved = json.loads(scores_path(run, LAYER).read_text())
    assert saved["format"] == SCORES_FORMAT and saved["embedding"] == "colour histogram 4x4x4"
    units = saved["units"]
    # units 0 and 1: a picture of their own hue; unit 2 fires on hue 2/3 but its picture is hue 1/2 (next to it)
    assert units["0"]["picture"] == units["1"]["picture"] == 1.0 and units["0"]["pairs"] == 2 * 4
    assert all(u["examples"] == 1.0 for u in units.values())
    assert saved["picture"] == pytest.approx(sum(u["picture"] for u in units.values()) / 3)
    assert read_explanation_scores(run) == {LAYER: saved}

    before = scores_path(run, LAYER).stat().st_mtime_ns
    [again] = add_explanation_scores(run, colour_world)
    assert not again.computed and scores_path(run, LAYER).stat().st_mtime_ns == before

    # unit 1's picture becomes the opposite hue: its layer is scored again, and the picture now points the wrong way
    generator = torch.Generator().manual_seed(5)
    save_png(run / "images" / LAYER / "unit_00001.png", colour_world.hue_images(torch.tensor([1 / 3 + 0.5]), 32,
                                                                                 generator)[0])
    [changed] = add_explanation_scores(run, colour_world)
    assert changed.computed and json.loads(scores_path(run, LAYER).read_text())["units"]["1"]["picture"] == 0.0


def test_a_missing_example_image_is_one_sentence_and_nothing_is_written(tmp_path, colour_world):
    run = hue_run(tmp_path, colour_world)
    (tmp_path / "photos" / "hue_00.png").unlink()  # the best image of unit 0
    with pytest.raises(ConfigError, match=r"Dataset example .*hue_00\.png.* of layer 'features\.2' is missing"):
        add_explanation_scores(run, colour_world)
    assert not scores_path(run, LAYER).exists()


def test_examples_without_bottom_lists_are_not_scored(tmp_path, colour_world):
    run = hue_run(tmp_path, colour_world, bottom=False)
    assert add_explanation_scores(run, colour_world) == [] and read_explanation_scores(run) == {}


def test_a_bottom_image_that_is_also_a_top_one_is_no_weak_query(tmp_path, colour_world):
    """A folder of fewer than 2 k images gives a unit the same image in both lists: it is not asked against itself."""
    run = hue_run(tmp_path, colour_world)
    path = run / "examples" / LAYER / "examples.json"
    examples = json.loads(path.read_text())
    units = examples["units"]
    units["0"]["bottom"][0] = units["0"]["top"][1]  # unit 0's second best is also listed among its weakest
    units["1"]["bottom"] = units["1"]["top"][:]  # unit 1: every bottom image is a top one: not scored
    path.write_text(json.dumps(examples))
    add_explanation_scores(run, colour_world)
    scored = json.loads(scores_path(run, LAYER).read_text())["units"]
    assert sorted(scored) == ["0", "2"] and scored["0"]["pairs"] == 2 * 3 and scored["0"]["picture"] == 1.0
