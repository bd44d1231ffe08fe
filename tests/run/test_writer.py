"""rundir: run folders are never reused, writes are atomic, JSON and PNG files hold exactly what was given."""

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax import rundir
from lit_actmax.run.writer import (
    atomic_write_bytes,
    atomic_write_text,
    image_stem,
    iter_records,
    new_run_dir,
    read_json,
    safe_name,
    save_png,
    to_uint8,
    write_json,
)


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes still lying in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_new_run_dir_counts_up_and_never_returns_an_existing_folder(tmp_path):
    made = [new_run_dir(tmp_path, "run") for _ in range(3)]
    assert [p.name for p in made] == ["version_0", "version_1", "version_2"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)
    made[0].rmdir()  # a hole below the highest version is not filled
    assert new_run_dir(tmp_path, "run").name == "version_3"


def test_new_run_dir_continues_after_the_highest_version_and_ignores_other_names(tmp_path):
    base = tmp_path / "run"
    for name in ("version_4", "version_x", "notes", "version_10_old"):
        (base / name).mkdir(parents=True)
    (base / "version_7").write_text("a file holds the name too")
    assert new_run_dir(tmp_path, "run") == base / "version_8"


def test_new_run_dir_makes_the_name_safe(tmp_path):
    assert new_run_dir(tmp_path / "out", "my run/2") == tmp_path / "out" / "my_run_2" / "version_0"


@pytest.mark.parametrize("text, expected", [
    ("features.2", "features.2"), ("my run/2", "my_run_2"), ("a=1,b=2", "a=1_b=2"), ("_blocks.10", "blocks.10"),
    ("...", "_"), ("", "_"), ("ünïcode", "n_code"),
])
def test_safe_name(text, expected):
    assert safe_name(text) == expected


def test_atomic_write_bytes_makes_folders_replaces_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a" / "b" / "data.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert leftovers(path.parent) == []
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_atomic_write_keeps_the_old_file_and_removes_its_temporary_file(tmp_path, monkeypatch, error):
    path = tmp_path / "index.json"
    path.write_text("old")

    def fail(src, dst):
        assert Path(src).exists()  # the temporary file was written completely before the rename
        raise error

    monkeypatch.setattr(rundir.os, "replace", fail)
    with pytest.raises(type(error)):
        atomic_write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old" and leftovers(tmp_path) == []


def test_an_atomic_write_that_fails_while_writing_creates_nothing(tmp_path):
    path = tmp_path / "new.bin"
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "text is not bytes")
    assert not path.exists() and leftovers(tmp_path) == []


def test_atomic_write_text_is_utf8(tmp_path):
    atomic_write_text(tmp_path / "t.txt", "grüße ✓")
    assert (tmp_path / "t.txt").read_bytes() == "grüße ✓".encode("utf-8")


def test_write_json_round_trips_and_keeps_the_key_order(tmp_path):
    data = {"z": 1, "a": [1.5, "x", None, True], "m": {"k": {"deep": []}}}
    write_json(tmp_path / "d.json", data)
    text = (tmp_path / "d.json").read_text()
    assert text == json.dumps(data, indent=2) + "\n"
    assert read_json(tmp_path / "d.json") == data and list(read_json(tmp_path / "d.json")) == ["z", "a", "m"]


def test_write_json_writes_strict_json_only_and_read_json_still_reads_old_files_with_nan(tmp_path):
    for value in (float("nan"), float("inf"), -math.inf, np.float32("nan"), torch.tensor([1.0, math.nan])):
        with pytest.raises(ValueError, match=r"at x(\[1\])?; JSON has no NaN or infinity"):
            write_json(tmp_path / "n.json", {"x": value})
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left
    (tmp_path / "old.json").write_text('{"nan": NaN, "inf": Infinity, "ninf": -Infinity}')  # written before issue 14
    back = read_json(tmp_path / "old.json")
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["ninf"] == -math.inf


def test_write_json_converts_numpy_tensors_paths_and_falls_back_to_repr(tmp_path):
    class Thing:
        def __repr__(self):
            return "Thing()"

    write_json(tmp_path / "c.json", {
        "int": np.int64(3), "float": np.float32(0.5), "tensor": torch.tensor([[1, 2], [3, 4]]),
        "scalar": torch.tensor(2.5), "path": Path("a") / "b.png", "other": Thing(),
    })
    back = read_json(tmp_path / "c.json")
    assert back == {"int": 3, "float": 0.5, "tensor": [[1, 2], [3, 4]], "scalar": 2.5, "path": str(Path("a/b.png")),
                    "other": "Thing()"}
    assert type(back["int"]) is int


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


@pytest.mark.parametrize("args, stem", [
    ((130,), "unit_00130"), ((130, 0, 1), "unit_00130"), ((130, 0, 2), "unit_00130_v0"), ((7, 2, 3), "unit_00007_v2"),
    ((123456,), "unit_123456"),
])
def test_image_stem(args, stem):
    assert image_stem(*args) == stem


def test_iter_records_reads_every_unit_record_sorted_by_layer_unit_and_variant(tmp_path):
    records = [
        {"layer": "b", "unit": 1, "variant": 0}, {"layer": "a", "unit": 10, "variant": 1},
        {"layer": "a", "unit": 10, "variant": 0}, {"layer": "a", "unit": 2, "variant": 0},
    ]
    for i, record in enumerate(records):  # file names in another order than the records' contents
        write_json(tmp_path / "images" / record["layer"] / f"unit_{9 - i:05d}.json", record)
    write_json(tmp_path / "index.json", {"units": []})
    write_json(tmp_path / "images" / "a" / "notes.json", {"layer": "a", "unit": 0})
    (tmp_path / "images" / "a" / "unit_00000.png").write_bytes(b"")
    assert list(iter_records(tmp_path)) == [records[3], records[2], records[1], records[0]]


def test_iter_records_of_a_run_without_images_is_empty(tmp_path):
    assert list(iter_records(tmp_path)) == []
