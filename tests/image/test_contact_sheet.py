"""contact_sheet: the grid's geometry, where each image lands, captions that stay under their tile."""

import numpy as np
import pytest
from PIL import Image

from lit_actmax.image.contact_sheet import contact_sheet

WHITE = (255, 255, 255)
COLOURS = [(200, 0, 0), (0, 150, 0), (0, 0, 250), (90, 90, 10), (10, 90, 90)]


def tiles(n: int = 5, size: int = 8) -> list[Image.Image]:
    return [Image.new("RGB", (size, size), colour) for colour in COLOURS[:n]]


def cell(sheet: Image.Image, index: int, columns: int, tile: int, pad: int = 4, caption: int = 0) -> np.ndarray:
    """The ``tile`` x ``tile`` pixels of grid cell ``index``."""
    r, c = divmod(index, columns)
    x, y = pad + c * (tile + pad), pad + r * (tile + pad + caption)
    return np.asarray(sheet)[y:y + tile, x:x + tile]


def test_an_empty_list_is_refused():
    with pytest.raises(ValueError, match="at least one image"):
        contact_sheet([])


@pytest.mark.parametrize("n, columns, size", [
    (1, 1, (24, 24)), (2, 2, (44, 24)), (5, 3, (64, 44)), (9, 4, (84, 64)),  # columns ceil(sqrt(1.5 n)), at most n
])
def test_default_columns_and_sheet_size(n, columns, size):
    sheet = contact_sheet([Image.new("RGB", (4, 4))] * n, tile=16, pad=4)
    assert sheet.mode == "RGB" and sheet.size == size
    assert size[0] == columns * (16 + 4) + 4


def test_every_image_fills_its_cell_in_row_major_order_and_the_rest_is_background():
    sheet = contact_sheet(tiles(), tile=16, pad=4)  # 3 columns, 2 rows, the last cell empty
    for i, colour in enumerate(COLOURS):
        assert (cell(sheet, i, 3, 16) == colour).all()
    assert (cell(sheet, 5, 3, 16) == WHITE).all()
    pixels = np.asarray(sheet)
    assert (pixels[:4] == WHITE).all() and (pixels[:, :4] == WHITE).all()  # the outer padding
    assert (pixels[:, 20:24] == WHITE).all()  # the gap between columns 0 and 1


def test_columns_padding_and_background_are_options():
    sheet = contact_sheet(tiles(3), tile=10, columns=1, pad=2, background=(1, 2, 3))
    assert sheet.size == (1 * 12 + 2, 3 * 12 + 2)
    assert sheet.getpixel((0, 0)) == (1, 2, 3)
    for i, colour in enumerate(COLOURS[:3]):
        assert (cell(sheet, i, 1, 10, pad=2) == colour).all()


def test_files_and_images_of_any_mode_are_resized_to_the_tile(tmp_path):
    Image.new("L", (30, 20), 77).save(tmp_path / "gray.png")
    rgba = Image.new("RGBA", (5, 9), (10, 20, 30, 128))
    sheet = contact_sheet([tmp_path / "gray.png", str(tmp_path / "gray.png"), rgba], tile=12)
    assert (cell(sheet, 0, 3, 12) == (77, 77, 77)).all() and (cell(sheet, 1, 3, 12) == (77, 77, 77)).all()
    assert (cell(sheet, 2, 3, 12) == (10, 20, 30)).all()  # alpha is dropped, not blended
    assert rgba.mode == "RGBA" and rgba.size == (5, 9) and rgba.getpixel((0, 0)) == (10, 20, 30, 128)  # untouched


def test_captions_add_a_row_under_each_tile_and_stay_inside_their_column():
    long = "a label far longer than the tile it belongs to " * 3
    sheet = contact_sheet(tiles(2), labels=[long, "7"], tile=40, pad=4)
    assert sheet.size == (2 * 44 + 4, 1 * (40 + 4 + 14) + 4)
    assert (cell(sheet, 0, 2, 40, caption=14) == COLOURS[0]).all()
    captions = np.asarray(sheet)[44:58]
    inked = np.flatnonzero((captions != 255).any(-1).any(0))
    first, second = inked[inked < 48], inked[inked >= 48]
    assert len(first) and len(second)  # both captions were drawn
    assert first.max() < 44  # the long one was cut to the tile's width, the gap to the next column stays blank
    assert second.max() < 48 + 40
