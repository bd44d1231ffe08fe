"""Image files and tensors: what is written reads back, writes are atomic, thumbnails keep what matters, folders are
listed in a stable order, and a file that is not an image gives one sentence.

(``to_uint8`` and ``save_png``'s values and modes are tested in tests/run/test_writer.py, where they lived.)
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax import ConfigError
from lit_actmax.image.io import (
    PACKAGE_DIR,
    encode_image,
    image_file,
    list_images,
    load_image,
    open_image,
    read_image,
    save_jpeg,
    save_png,
    to_uint8,
    write_thumbnail,
)


def leftovers(folder: Path) -> list[str]:
    """Temporary files an atomic write left behind."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_png_reads_back_as_the_uint8_values_it_was_written_with(tmp_path):
    image = torch.rand(3, 17, 23, generator=torch.Generator().manual_seed(0))
    save_png(tmp_path / "sub" / "a.png", image)
    back = read_image(tmp_path / "sub" / "a.png")
    assert back.shape == (3, 17, 23) and back.dtype == torch.float32
    assert torch.equal(back, torch.from_numpy(to_uint8(image)).permute(2, 0, 1).float() / 255)
    assert np.array_equal(to_uint8(back), to_uint8(image))  # a second round trip changes nothing


def test_png_bytes_are_pillows_encoding_of_the_uint8_image(tmp_path):
    image = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(1))
    save_png(tmp_path / "a.png", image)
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")  # what run folders have always held
    assert (tmp_path / "a.png").read_bytes() == buffer.getvalue() == encode_image(image, "PNG")


def test_a_jpeg_reads_back_close_to_what_was_written(tmp_path):
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 48), indexing="ij")
    image = torch.stack([xs, ys, 1 - xs])  # smooth: JPEG keeps it well
    save_jpeg(tmp_path / "a.jpg", image, quality=95)
    with Image.open(tmp_path / "a.jpg") as jpeg:
        assert jpeg.format == "JPEG"
    assert (read_image(tmp_path / "a.jpg") - image).abs().mean() < 0.01


def test_load_image_centre_crops_to_the_aspect_then_resizes(tmp_path):
    array = np.zeros((20, 40, 3), np.uint8)
    array[:, 10:30] = 255  # the centre square is white, the sides black
    Image.fromarray(array).save(tmp_path / "wide.png")
    square = load_image(tmp_path / "wide.png", 8)
    assert square.shape == (1, 3, 8, 8) and float(square.min()) > 0.99
    assert load_image(tmp_path / "wide.png", (10, 40)).shape == (1, 3, 10, 40)
    assert float(load_image(tmp_path / "wide.png", (10, 40))[..., 0].max()) < 0.01  # no crop: the black side stays


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    save_png(path, np.zeros((4, 4, 3), np.uint8))
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_png(path, np.zeros((4, 4, 7), np.float64))  # Pillow refuses the array before anything is written
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(OSError, match="disk gone"):
        save_jpeg(path, np.full((4, 4, 3), 200, np.uint8))
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_a_file_that_is_not_an_image_gives_one_sentence(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    for read in (open_image, read_image, lambda p: load_image(p, 8),
                 lambda p: write_thumbnail(p, tmp_path / "t.jpg", 16)):
        with pytest.raises(ConfigError, match=r"'.*notes\.png' is not an image Pillow can read \(.*\); give a PNG or JPEG"):
            read(tmp_path / "notes.png")
        with pytest.raises(ConfigError, match=r"Image file '.*missing\.png' does not exist; give the path of a PNG"):
            read(tmp_path / "missing.png")
    assert not (tmp_path / "t.jpg").exists()


def test_thumbnails_shrink_large_images_and_enlarge_small_ones_with_sharp_pixels(tmp_path):
    save_png(tmp_path / "large.png", np.full((200, 100, 3), 90, np.uint8))
    assert write_thumbnail(tmp_path / "large.png", tmp_path / "thumbs" / "large.jpg", 96)
    assert Image.open(tmp_path / "thumbs" / "large.jpg").size == (48, 96)
    checker = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)
    save_png(tmp_path / "small.png", np.stack([checker] * 3, -1))
    write_thumbnail(tmp_path / "small.png", tmp_path / "small.jpg", 96)
    thumb = np.asarray(Image.open(tmp_path / "small.jpg").convert("L"), dtype=float)
    assert thumb.shape == (96, 96) and thumb[1, 1] < 60 and thumb[1, 4] > 195  # 3x3 blocks, not blurred together


def test_thumbnails_put_transparency_over_white_and_are_made_only_when_older_than_their_image(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 16:, 3] = 255  # left half transparent, right half opaque red
    save_png(tmp_path / "a.png", rgba)
    target = tmp_path / "a.jpg"
    assert write_thumbnail(tmp_path / "a.png", target, 32)
    pixels = np.asarray(Image.open(target), dtype=int)
    assert (abs(pixels[16, 4] - [255, 255, 255]) < 8).all() and (abs(pixels[16, 28] - [255, 0, 0]) < 8).all()
    assert not write_thumbnail(tmp_path / "a.png", target, 32)  # up to date: not written again
    stamp = target.stat().st_mtime_ns
    os.utime(tmp_path / "a.png", ns=(stamp + 10**9,) * 2)
    assert write_thumbnail(tmp_path / "a.png", target, 32)


def test_image_folders_are_listed_recursively_in_a_stable_order(tmp_path):
    for name in ("b.png", "a.JPG", "sub/c.webp", "sub/deep/d.tiff"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(tmp_path / name, format=Image.registered_extensions()[Path(name).suffix.lower()])
    (tmp_path / "notes.txt").write_text("not an image")
    files = list_images(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.JPG", "b.png", "sub/c.webp", "sub/deep/d.tiff"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="No images"):
        list_images(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist; give a folder of PNG/JPEG images"):
        list_images(tmp_path / "missing")


def test_to_uint8_rounds_clamps_and_moves_channels_last():
    image = torch.tensor([0.0, 1.0, 0.5, 0.498, -1.0, 2.0]).view(1, 1, 6).expand(3, 2, 6).clone()
    image[1] = 1 - image[1].clamp(0, 1)
    array = to_uint8(image)
    assert array.dtype == np.uint8 and array.shape == (2, 6, 3)
    assert array[0, :, 0].tolist() == [0, 255, 128, 127, 0, 255]  # x * 255 rounded half up, clamped to [0, 1]
    assert array[0, :, 1].tolist() == [255, 0, 128, 128, 255, 0]


@pytest.mark.parametrize("shape", [(1, 4, 5), (4, 5)])
def test_to_uint8_gives_one_channel_images_as_2d(shape):
    assert to_uint8(torch.full(shape, 0.2)).tolist() == np.full((4, 5), 51, dtype=np.uint8).tolist()


def test_to_uint8_takes_half_precision_and_graph_tensors_and_leaves_them_unchanged():
    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    before = image.detach().clone()
    assert np.array_equal(to_uint8(image), to_uint8(before))
    assert torch.equal(image.detach(), before)
    half = torch.full((3, 2, 2), 1.0, dtype=torch.bfloat16)
    assert (to_uint8(half) == 255).all()


def test_save_png_writes_the_uint8_values(tmp_path):
    image = torch.rand(3, 6, 7, generator=torch.Generator().manual_seed(1))
    save_png(tmp_path / "sub" / "rgb.png", image)
    with Image.open(tmp_path / "sub" / "rgb.png") as png:
        assert png.format == "PNG" and png.mode == "RGB" and png.size == (7, 6)
        assert np.array_equal(np.asarray(png), to_uint8(image))
    assert leftovers(tmp_path / "sub") == []


def test_save_png_takes_rgba_tensors_arrays_and_pil_images(tmp_path):
    rgba = torch.rand(4, 3, 3, generator=torch.Generator().manual_seed(2))
    save_png(tmp_path / "rgba.png", rgba)
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_png(tmp_path / "gray.png", gray)
    save_png(tmp_path / "pil.png", Image.new("RGB", (2, 2), (10, 20, 30)))
    with Image.open(tmp_path / "rgba.png") as png:
        assert png.mode == "RGBA" and np.array_equal(np.asarray(png), to_uint8(rgba))
    with Image.open(tmp_path / "gray.png") as png:
        assert png.mode == "L" and np.array_equal(np.asarray(png), gray)
    with Image.open(tmp_path / "pil.png") as png:
        assert png.getpixel((1, 1)) == (10, 20, 30)


def test_a_shipped_image_is_read_from_the_package_in_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository: as an installed wheel runs
    shipped = image_file("configs/images/chelsea_160.jpg")
    assert shipped == PACKAGE_DIR / "configs" / "images" / "chelsea_160.jpg" and shipped.is_file()
    assert load_image("configs/images/chelsea_160.jpg", 8).shape == (1, 3, 8, 8)
    mine = tmp_path / "configs" / "images" / "chelsea_160.jpg"  # a file of the working folder wins
    mine.parent.mkdir(parents=True)
    save_png(mine, torch.zeros(3, 4, 4))
    assert image_file("configs/images/chelsea_160.jpg") == Path("configs/images/chelsea_160.jpg")
    with pytest.raises(ConfigError, match="does not exist"):
        load_image("configs/images/no_such.jpg", 8)
