"""notebook.py: every unit's image of a run in one call, shown inline."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from lit_actmax import ConfigError, run_images


def test_every_unit_of_every_group_in_one_call(tiny_module, make_trainer, tmp_path):
    module = tiny_module(units="0-5", batch_size=2, save_outputs=True, out_dir=str(tmp_path / "runs"))
    make_trainer().fit(module)
    assert len(module.last_finished.units) == 2  # the module keeps the last group only
    shown = run_images(module)
    assert [r["unit"] for r in shown.records] == list(range(6)) and shown.captions[0] == "unit 0"
    assert torch.equal(shown.images[-1], run_images(module.run_dir).images[-1])
    assert all(image.shape == (3, 32, 32) and 0 <= image.min() and image.max() <= 1 for image in shown.images)
    picture = Image.open(io.BytesIO(shown._repr_png_()))  # what Jupyter shows inline
    assert picture.format == "PNG" and picture.width > 3 * 32
    assert len(run_images(module.run_dir, layer="features.2")) == 6


def test_a_module_without_a_run_folder_or_an_unknown_layer_is_one_sentence(tiny_module, make_trainer, tmp_path):
    with pytest.raises(ConfigError, match="has no run folder"):
        run_images(tiny_module())
    module = tiny_module(save_outputs=True, out_dir=str(tmp_path / "runs"))
    make_trainer().fit(module)
    with pytest.raises(ConfigError, match="no units of layer 'features.9'"):
        run_images(module, layer="features.9")
