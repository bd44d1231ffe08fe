"""run/summary.py: the run-level fields of index.json, the images it lists, and the closing sentence."""

from pathlib import Path

from lit_actmax import Channel, Compose, Pixel, Renderer
from lit_actmax.core.schedule import UnitSchedule
from lit_actmax.objectives.per_layer import PerLayer
from lit_actmax.run.summary import outputs_message, requested_images, run_summary
from lit_actmax.testing import tiny_backbone


def test_the_summary_describes_the_run():
    renderer = Renderer(tiny_backbone(), Channel("features.2"), size=32, param=Pixel(), transforms=Compose([]), seed=7)
    schedule = UnitSchedule([0, 1, 2], 2, 1, 2, 3).for_rank(0, 2)
    summary = run_summary("tiny", renderer, schedule, {"size": 32, "odd": object()})
    assert (summary.backbone, summary.objective, summary.param, summary.size) == ("tiny", "Channel(features.2)", "Pixel", [32, 32])
    assert (summary.steps_per_unit, summary.seed, summary.world_size, summary.layers) == (6, 7, 2, ["features.2"])
    assert summary.config["size"] == 32 and summary.config["odd"].startswith("<object")  # made JSON-able


def test_the_index_lists_the_requested_images_of_every_layer():
    renderer = Renderer(tiny_backbone(), PerLayer([Channel("features.2"), Channel("features.0")]), size=32, param=Pixel(),
                        transforms=Compose([]))
    assert requested_images(renderer, [(0, 1), (1, 1)], variants=2) == {
        ("features.2", 1, 0), ("features.2", 1, 1), ("features.0", 1, 0), ("features.0", 1, 1)}


def test_the_closing_sentence_says_where_everything_is():
    index = {"units": [{"layer": "output", "unit": 1, "image": "images/output/unit_00001.png"},
                       {"layer": "output", "unit": 1, "image": "images/output/unit_00001_v1.png"}],
             "grids": {"output": "grids/output.png"}}
    assert outputs_message(index, Path("runs/x")) == (
        "Rendered 1 unit into runs/x: images/output/, grids/output.png, index.json (gallery: lit-actmax gallery runs/x)")
