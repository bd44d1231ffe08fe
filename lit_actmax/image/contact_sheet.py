"""Contact sheets (grid PNGs) of rendered units."""

from __future__ import annotations

import math
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from ..errors import ConfigError
from ..run.storage import AnyPath
from .io import open_image

__all__ = ["contact_sheet"]


def contact_sheet(
    paths: Sequence[AnyPath | Image.Image], labels: Sequence[str] | None = None, tile: int = 128,
    columns: int | None = None, pad: int = 4, background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Tile images (files, local or at a URL, or PIL images) into one picture, ``tile`` px each, with an optional
    caption under each."""
    if not paths:
        raise ConfigError("contact_sheet needs at least one image.")
    n = len(paths)
    columns = columns or min(n, max(1, math.ceil(math.sqrt(n * 1.5))))
    rows = math.ceil(n / columns)
    caption = 14 if labels else 0
    sheet = Image.new("RGB", (columns * (tile + pad) + pad, rows * (tile + pad + caption) + pad), background)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, path in enumerate(paths):
        r, c = divmod(i, columns)
        x, y = pad + c * (tile + pad), pad + r * (tile + pad + caption)
        with (path.copy() if isinstance(path, Image.Image) else open_image(path)) as image:
            sheet.paste(image.convert("RGB").resize((tile, tile), Image.BILINEAR), (x, y))
        if labels:
            text = labels[i]
            while len(text) > 3 and draw.textlength(text, font=font) > tile:
                text = text[:-2] + "…"
            draw.text((x, y + tile + 1), text, fill=(0, 0, 0), font=font)
    return sheet
