"""``lit_actmax.run.storage``: local paths stay pathlib, URLs become checked fsspec paths with pathlib's API."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path, PurePosixPath

import pytest

from lit_actmax.errors import ConfigError
from lit_actmax.run.files import atomic_write_bytes, read_json, remove_partial_writes, write_json
from lit_actmax.run.folders import check_writable, new_run_dir, remove_if_unused
from lit_actmax.run.storage import RemotePath, is_url, location, relative_path, remove_tree

ROOT = Path(__file__).resolve().parents[2]


def memory_folder() -> RemotePath:
    """A fresh folder of the process's ``memory://`` filesystem."""
    return location(f"memory://storage-test/{uuid.uuid4().hex[:8]}")


def test_a_plain_path_stays_a_pathlib_path(tmp_path):
    assert location(str(tmp_path)) == tmp_path and type(location(str(tmp_path))) is type(tmp_path)
    assert location(tmp_path / "a") == tmp_path / "a"
    assert location("runs/s3:bucket") == Path("runs/s3:bucket")  # no "://": a local name
    assert not is_url("C:\\runs") and is_url("s3://bucket/runs") and is_url("simplecache::s3://bucket")


def test_a_url_is_a_remote_path_with_pathlibs_names():
    folder = location("memory://runs/tour")
    assert isinstance(folder, RemotePath) and str(folder) == "memory:///runs/tour"
    record = folder / "images" / "features.2" / "unit_00001.json"
    assert (record.name, record.stem, record.suffix) == ("unit_00001.json", "unit_00001", ".json")
    assert record.with_suffix(".png").name == "unit_00001.png" and record.parent.name == "features.2"
    assert record.relative_to(folder) == PurePosixPath("images/features.2/unit_00001.json")
    assert location(str(record)) == record and location(record) is record and folder.absolute() == folder
    assert relative_path(record, folder / "site" / "units") == "../../images/features.2/unit_00001.json"
    with pytest.raises(TypeError):
        Path(folder)  # never silently a local folder named "memory:"


def test_a_remote_folder_reads_writes_lists_and_removes():
    folder = memory_folder()
    assert not folder.exists() and list(folder.iterdir()) == []
    write_json(folder / "images" / "a" / "unit_00000.json", {"unit": 0})
    atomic_write_bytes(folder / "images" / "b" / "unit_00001.png", b"png")
    (folder / "images" / "b" / ".unit_00002.png.x1.tmp").write_bytes(b"half")
    assert read_json(folder / "images" / "a" / "unit_00000.json") == {"unit": 0}
    assert (folder / "images" / "b" / "unit_00001.png").read_bytes() == b"png"
    assert [p.name for p in folder.glob("images/*/unit_*")] == ["unit_00000.json", "unit_00001.png"]
    assert (folder / "images").is_dir() and (folder / "images" / "b" / "unit_00001.png").is_file()
    assert (folder / "images" / "b" / "unit_00001.png").stat().st_size == 3
    assert [p.name for p in remove_partial_writes(folder)] == [".unit_00002.png.x1.tmp"]
    assert sorted(p.name for p in folder.rglob("*")) == ["unit_00000.json", "unit_00001.png"]
    remove_tree(folder)
    assert not folder.exists()


def test_a_file_url_writes_through_a_renamed_temporary_file(tmp_path):
    target = location(f"file://{tmp_path}/runs/a/unit.png")
    atomic_write_bytes(target, b"\x89PNG")
    assert (tmp_path / "runs" / "a" / "unit.png").read_bytes() == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "runs" / "a").iterdir()) == ["unit.png"]  # no temporary file left


def test_run_folders_at_a_url_count_versions_and_are_removed_when_unused():
    out = memory_folder()
    check_writable(out)
    first, second = new_run_dir(out, "tour"), new_run_dir(out, "tour")
    assert (first.name, second.name) == ("version_0", "version_1") and isinstance(first, RemotePath)
    assert remove_if_unused(second) and not second.exists()
    write_json(first / "images" / "a" / "unit_00000.json", {})
    assert not remove_if_unused(first) and first.exists()


def test_an_unknown_protocol_is_one_sentence():
    with pytest.raises(ConfigError) as caught:
        location("nosuchfs://bucket/runs", "out_dir")
    assert str(caught.value) == ("out_dir nosuchfs://bucket/runs names the unknown protocol nosuchfs://; give a local "
                                 "folder or an fsspec URL (s3://, gs://, az://, file://, memory://, ...).")


def test_a_file_url_is_checked_as_the_local_folder_it_names(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    check_writable(f"file://{tmp_path}/new/runs")
    with pytest.raises(ConfigError, match="out_dir '.*/a_file/runs' cannot be created: .* is not a folder"):
        check_writable(f"file://{tmp_path}/a_file/runs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_s3_without_s3fs_names_the_package_and_writes_nothing(tmp_path):
    """s3fs is installed here: a fresh interpreter blocks its import, as an environment without it has none."""
    code = ("import sys; sys.modules['s3fs'] = None\n"
            "from lit_actmax.run.folders import check_writable\n"
            "check_writable('s3://bucket/runs')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "lit_actmax.errors.ConfigError: out_dir s3://bucket/runs needs the s3fs package: pip install s3fs.")
    assert list(tmp_path.iterdir()) == []
