"""The "over training" view: a watched unit's frames in training order on its site page, with strip and animation."""

from __future__ import annotations

import torch

from lit_actmax.augment import Compose
from lit_actmax.core.live_renderer import LiveRenderer, Rendering
from lit_actmax.html.markup import RunFiles, referenced_files
from lit_actmax.html.over_training import over_training_view
from lit_actmax.html.records import group_units, load_run
from lit_actmax.html.site import build_site, unit_page
from lit_actmax.run.evolution import EvolutionWriter
from lit_actmax.testing import tiny_convnet


def watched_folder(run_dir) -> None:
    live = LiveRenderer(units="0-1", size=16, steps=2, transforms=Compose([]))
    live.bind(tiny_convnet(), "TinyConvNet")
    writer = EvolutionWriter(run_dir, live)
    for step, value in ((0, 0.1), (6, 0.5), (12, 0.9)):
        writer.add(Rendering(torch.tensor([[0, 0, 0], [1, 0, 0]]), torch.full((2, 3, 16, 16), value),
                             torch.tensor([step / 10, -step / 10]), 0.1), step=step, epoch=step // 6, trigger="epoch end")


def test_the_view_lists_every_frame_in_training_order_with_its_links(tmp_path):
    watched_folder(tmp_path)
    index, records = load_run(tmp_path)
    unit = group_units(index, records)["output"][1]
    html = over_training_view(unit, RunFiles(tmp_path), tmp_path / "site" / "units" / "output")
    assert html.startswith('<section class="over-training"><h2>over training</h2><h3>3 renders</h3>')
    captions = [c.split("</figcaption>")[0] for c in html.split("<figcaption>")[1:]]
    assert captions == ["start", "step 6, epoch 1", "step 12, epoch 2"]
    assert "activation -1.2" in html and ">animation</a>" in html and ">strip</a>" in html
    assert over_training_view(unit.__class__("output", 1, [{"unit": 1}]), RunFiles(tmp_path), tmp_path) == ""


def test_the_unit_page_of_the_site_shows_it_and_every_reference_resolves(tmp_path):
    watched_folder(tmp_path)
    site = build_site(tmp_path).parent
    page = site / unit_page("output", 0)
    text = page.read_text()
    assert "over training" in text and text.count("frames/output/unit_00000/step_") == 6  # link and image per frame
    for link in referenced_files(text):
        assert (page.parent / link).resolve().is_file(), link
