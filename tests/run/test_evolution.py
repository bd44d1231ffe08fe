"""EvolutionWriter: frames per render, each unit's strip, animation and record, the index; continued, never mixed."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from lit_actmax.augment import Compose
from lit_actmax.core.live_renderer import LiveRenderer, Rendering
from lit_actmax.errors import ConfigError
from lit_actmax.run.evolution import EVOLUTION_FILE, STRIP_TILE, EvolutionWriter
from lit_actmax.testing import tiny_convnet


def bound(size: int = 16) -> LiveRenderer:
    live = LiveRenderer(units="0-2", size=size, steps=2, transforms=Compose([]))
    live.bind(tiny_convnet(), "TinyConvNet")
    return live


def rendering(value: float) -> Rendering:
    """Three flat images of grey ``value`` (units 0-2), activations 0, 1, 2."""
    keys = torch.tensor([[u, 0, 0] for u in range(3)])
    return Rendering(keys, torch.full((3, 3, 16, 16), value), torch.arange(3.0), 0.5)


def test_renders_become_frames_strips_animations_and_records(tmp_path):
    writer = EvolutionWriter(tmp_path, bound())
    writer.add(rendering(0.2), step=0, epoch=0, trigger="start")
    writer.add(rendering(0.6), step=12, epoch=1, trigger="epoch end")
    writer.add(rendering(0.8), step=12, epoch=1, trigger="epoch end")  # the same step again replaces it
    assert writer.steps == [0, 12]
    assert len(list(tmp_path.glob("frames/output/unit_00001/step_*.png"))) == 2
    record = json.loads((tmp_path / "images/output/unit_00001.json").read_text())
    assert [(f["step"], f["caption"]) for f in record["evolution"]] == [(0, "start"), (12, "step 12")]
    assert record["activation"] == 1.0 and record["animation_frames"] == 2
    latest = Image.open(tmp_path / record["image"]).convert("RGB")
    assert latest.getpixel((3, 3)) == (204, 204, 204)  # the latest render (0.8), not the replaced one
    strip = Image.open(tmp_path / record["files"]["strip"])
    assert record["strip_size"] == [strip.height, strip.width] and strip.width == 2 * (STRIP_TILE + 4) + 4
    with Image.open(tmp_path / record["files"]["animation"]) as gif:
        assert gif.n_frames == 2
    index = json.loads((tmp_path / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == [0, 1, 2] and len(index["renders"]) == 2
    history = json.loads((tmp_path / EVOLUTION_FILE).read_text())
    assert [r["trigger"] for r in history["renders"]] == ["start", "epoch end"]


def test_a_folder_continues_and_refuses_other_settings(tmp_path):
    EvolutionWriter(tmp_path, bound()).add(rendering(0.2), step=5, epoch=0, trigger="checkpoint", source="a.ckpt")
    again = EvolutionWriter(tmp_path, bound())
    assert again.steps == [5] and again.history["renders"][0]["source"] == "a.ckpt"
    with pytest.raises(ConfigError, match=r"other settings: size 16 \(now 24\)"):
        EvolutionWriter(tmp_path, bound(size=24))
