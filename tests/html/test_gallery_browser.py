"""Open a run's gallery in headless Chromium from the file system and check that the unit images are drawn.

``make test`` installs Debian's chromium first when it can (scripts/ensure_chromium.sh); without a browser the
test is skipped and says why.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax import ActMaxModule, Channel, Compose, Pixel
from lit_actmax.html.gallery import build_gallery

pytestmark = pytest.mark.slow  # starts a browser process

TINY = "lit_actmax.testing:tiny_backbone"


def test_headless_chromium_draws_the_unit_images(tmp_path, make_trainer, chromium):
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=4,
                          steps_per_epoch=4, epochs=2, param=Pixel(), transforms=Compose([]), seed=1,
                          optimizer=lambda p: torch.optim.Adam(p, lr=0.1), out_dir=str(tmp_path / "runs"))
    make_trainer().fit(module)
    page = build_gallery(module.run_dir)
    shot = chromium.screenshot(page, tmp_path / "gallery.png", tmp_path / "profile")

    assert shot.shape[0] >= 1000 and shot.shape[1] >= 1200
    assert shot.std() > 20, "the screenshot is blank"
    drawn = {tuple(c) for c in shot.reshape(-1, 3)}
    for unit in range(4):  # the optimized images' own colours are on the screen (drawn pixelated, not resampled)
        png = np.asarray(Image.open(module.writer.unit_dir / f"unit_{unit:05d}.png").convert("RGB")).reshape(-1, 3)
        found = np.mean([tuple(c) in drawn for c in png])
        assert found > 0.9, f"unit {unit}: only {found:.0%} of its colours are on the page"
    # the page itself has few colours: the matches come from the images, not from the page's greys
    assert len(drawn) > 4 * 500

    # the browser runs the page's script: #sort=-activation orders the cards by activation, highest first
    dom = chromium.dump_dom(page.resolve().as_uri() + "#sort=-activation", tmp_path / "profile2")
    shown = [int(u) for u in re.findall(r'class="card" data-unit="(\d+)"', dom)]
    index = json.loads((module.run_dir / "index.json").read_text())
    by_activation = [r["unit"] for r in sorted(index["units"], key=lambda r: -r["activation"])]
    assert shown == by_activation != [0, 1, 2, 3]
