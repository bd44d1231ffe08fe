"""run/files.py: atomic writes (readers never see half a file), strict JSON, safe names."""

import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from lit_actmax.run import files as run_files
from lit_actmax.run.files import (
    atomic_write_bytes,
    atomic_write_text,
    layer_folder,
    read_json,
    remove_partial_writes,
    safe_name,
    write_json,
)


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes still lying in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("text, expected", [
    ("features.2", "features.2"), ("my run/2", "my_run_2"), ("a=1,b=2", "a=1_b=2"), ("_blocks.10", "blocks.10"),
    ("...", "_"), ("", "_"), ("ünïcode", "n_code"),
])
def test_safe_name(text, expected):
    assert safe_name(text) == expected


def test_layers_whose_names_sanitize_alike_never_share_a_folder():
    layers = ["features.2", "a#0", "a_0", "a/b", "a_b", "_x", "x", "ünïcode", "n_code", "blocks.0#1", "blocks.0_1"]
    folders = [layer_folder(layer) for layer in layers]
    assert len(set(folders)) == len(layers)
    assert layer_folder("features.2") == "features.2" and layer_folder("a_0") == "a_0"  # safe names stay as they are
    assert layer_folder("_blocks.8") == "_blocks.8" and layer_folder("_x") == "_x"  # lite0's, timm's private-looking names
    assert layer_folder(".x").startswith("x~") and layer_folder("x.").startswith("x~") and layer_folder("..") != ".."
    assert layer_folder("a#0").startswith("a_0~") and all(safe_name(f) == f for f in ("a_0", "x", "n_code"))
    assert all(re.fullmatch(r"[A-Za-z0-9_=][A-Za-z0-9_.=-]*(~[0-9a-f]{10})?", f) and not f.split("~")[0].endswith(".")
               for f in folders)


def test_remove_partial_writes_removes_only_the_temporary_files_of_atomic_writes(tmp_path):
    atomic_write_text(tmp_path / "images" / "a" / "unit_00000.json", "{}")
    stale = tmp_path / "images" / "a" / ".unit_00001.png.k2j3.tmp"
    stale.write_bytes(b"half a png")
    (tmp_path / "notes.tmp").write_text("a user's file")
    assert remove_partial_writes(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["notes.tmp", "unit_00000.json"]


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

    monkeypatch.setattr(run_files.os, "replace", fail)
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
