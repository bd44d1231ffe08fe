"""Animations of images over time: GIF files from frames of one size. Plain torch and PIL."""

from __future__ import annotations

import io

import torch
from PIL import Image

from ..errors import ConfigError
from .io import to_uint8

__all__ = ["gif_bytes"]


def gif_bytes(frames: list[torch.Tensor], duration: int = 100, loop: int = 0) -> tuple[bytes, int]:
    """(3, H, W) uint8 or [0, 1] frames of one size -> (GIF file bytes, number of frames in the file).

    PIL merges consecutive frames that are identical after its palette conversion (adding up their durations), so
    the count may be below ``len(frames)``. ``duration``: ms per frame; ``loop``: 0 repeats forever.
    """
    if not frames:
        raise ConfigError("A GIF needs at least one frame.")
    pictures = [Image.fromarray(to_uint8(f.float() / 255.0 if f.dtype == torch.uint8 else f)) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=int(duration),
                     loop=int(loop), optimize=False)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as check:
        count = getattr(check, "n_frames", 1)
    return data, count
