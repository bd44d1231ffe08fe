"""gif_bytes: frames (uint8 or [0, 1]) as one GIF file; the count of frames it holds."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from lit_actmax.errors import ConfigError
from lit_actmax.image.animation import gif_bytes


def test_frames_become_a_looping_gif():
    frames = [torch.full((3, 8, 8), v) for v in (0.0, 0.5, 1.0)] + [torch.full((3, 8, 8), 255, dtype=torch.uint8)]
    data, count = gif_bytes(frames, duration=50)
    assert count == 3  # the last two frames are the same picture: PIL merges them
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.size == (8, 8) and gif.n_frames == 3 and gif.info["loop"] == 0
        gif.seek(1)
        assert gif.convert("RGB").getpixel((0, 0)) == (128, 128, 128)
    with pytest.raises(ConfigError, match="at least one frame"):
        gif_bytes([])
