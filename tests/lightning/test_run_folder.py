"""Run folders of ``ActMaxModule`` at fsspec URLs (``memory://``, ``file://``, ``s3://`` on a local S3 server): the
same files as a local run, continued folders, and a URL that cannot work refused before anything is written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lit_actmax import Channel
from lit_actmax.augment import Compose, Jitter
from lit_actmax.run.storage import Location, location

TINY = "lit_actmax.testing:tiny_backbone"
ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ["--model.backbone", TINY, "--model.objective", "lit_actmax.objectives.Channel",
            "--model.objective.layer", "features.2", "--model.units", "0-2", "--model.size", "32",
            "--model.batch_size", "2", "--model.steps_per_epoch", "2", "--model.epochs", "1",
            "--trainer.enable_progress_bar", "false"]


def files_of(folder: Location) -> dict[str, bytes]:
    """Every file of a run folder, by its name relative to the folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def same_run(local: dict[str, bytes], remote: dict[str, bytes]) -> None:
    """The two folders hold the same files with the same bytes; the index differs only in the out_dir it records."""
    assert sorted(local) == sorted(remote)
    assert {name for name in local if local[name] != remote[name]} <= {"index.json"}
    first, second = json.loads(local["index.json"]), json.loads(remote["index.json"])
    first["config"].pop("out_dir"), second["config"].pop("out_dir")
    assert first == second


def render(tiny_module, make_trainer, units: str = "0-3", **options):
    module = tiny_module(objective=Channel("features.2"), units=units, batch_size=2, transforms=Compose([Jitter(2)]),
                         save_outputs=True, **options)
    make_trainer().fit(module)
    return module


def test_a_run_to_memory_and_file_urls_writes_what_a_local_run_writes(tiny_module, make_trainer, tmp_path):
    local = render(tiny_module, make_trainer, out_dir=str(tmp_path / "local")).run_dir
    memory = render(tiny_module, make_trainer, out_dir=f"memory://runs/{uuid.uuid4().hex[:8]}").run_dir
    file_url = render(tiny_module, make_trainer, out_dir=f"file://{tmp_path}/file_url").run_dir
    assert str(memory).startswith("memory:///runs/") and memory.name == local.name == "version_0"
    expected = files_of(local)
    assert "images/features.2/unit_00003.png" in expected and "grids/features.2.png" in expected
    same_run(expected, files_of(memory))
    same_run(expected, files_of(file_url))
    assert str(file_url).startswith("file://") and (tmp_path / "file_url").is_dir()


def test_a_continued_folder_on_memory_renders_only_what_is_missing(tiny_module, make_trainer):
    run_dir = f"memory://atlas/{uuid.uuid4().hex[:8]}"
    first = render(tiny_module, make_trainer, run_dir=run_dir, units="0-1")
    folder = first.run_dir
    written = {p.name: folder.fs.info(p.path)["created"] for p in folder.glob("images/*/unit_*.png")}
    assert sorted(written) == ["unit_00000.png", "unit_00001.png"]
    second = render(tiny_module, make_trainer, run_dir=run_dir, units="0-3")
    assert list(second.schedule.units) == [2, 3]  # the two units the folder lacked
    again = {p.name: folder.fs.info(p.path)["created"] for p in folder.glob("images/*/unit_*.png")}
    assert {name: again[name] for name in written} == written and len(again) == 4
    assert len(json.loads((folder / "index.json").read_text())["units"]) == 4


def test_an_unknown_protocol_is_one_sentence_exit_2_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    from lit_actmax.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["fit", *SETTINGS, "--model.out_dir", "nosuchfs://bucket/runs"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "lit-actmax: error: out_dir nosuchfs://bucket/runs names the unknown protocol nosuchfs://; give a local folder "
        "or an fsspec URL (s3://, gs://, az://, file://, memory://, ...).")
    assert list(tmp_path.iterdir()) == []  # no folder named "nosuchfs:"


@pytest.mark.slow
def test_s3_without_s3fs_is_one_sentence_exit_2_and_nothing_is_written(tmp_path):
    """s3fs is installed here: the process blocks its import, as an environment without it has none."""
    block = "import sys; sys.modules['s3fs'] = None; from lit_actmax.cli.main import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", block, "fit", *SETTINGS, "--model.out_dir", "s3://bucket/runs"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "lit-actmax: error: out_dir s3://bucket/runs needs the s3fs package: pip install s3fs.")
    assert list(tmp_path.iterdir()) == []  # no folder named "s3:"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def s3_server():
    """A local S3 API (moto's server, a real HTTP server in a thread) with the bucket ``runs``; yields the environment
    a process needs to reach it (fsspec's FSSPEC_S3_ENDPOINT_URL and dummy AWS credentials)."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        import s3fs

        s3fs.S3FileSystem(endpoint_url=env["FSSPEC_S3_ENDPOINT_URL"], key="testing", secret="testing",
                          skip_instance_cache=True).mkdir("runs")
        yield env
    finally:
        server.stop()


@pytest.mark.slow
def test_a_cli_run_to_s3_on_a_local_server_writes_what_a_local_run_writes(s3_server, tmp_path):
    def fit(out_dir: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lit_actmax.cli.main", "fit", *SETTINGS, "--model.out_dir", out_dir,
                               *extra], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **s3_server})

    missing = fit("s3://no-such-bucket/runs")
    assert missing.returncode == 2 and "no-such-bucket/runs cannot be reached" in missing.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []
    for out_dir in ("s3://runs/tour", str(tmp_path / "local")):
        result = fit(out_dir)
        assert result.returncode == 0, result.stderr[-3000:]
    remote = location("s3://runs/tour", storage_options={"endpoint_url": s3_server["FSSPEC_S3_ENDPOINT_URL"],
                                                         "key": "testing", "secret": "testing"})
    run = remote / "lit_actmax.testing_tiny_backbone" / "version_0"
    local, stored = files_of(tmp_path / "local" / "lit_actmax.testing_tiny_backbone" / "version_0"), files_of(run)
    assert "config.yaml" in stored and "images/features.2/unit_00002.png" in stored
    for name in ("config.yaml", "checkpoints/last.ckpt"):  # each names its own out_dir (Lightning saved the latter)
        assert name in local and name in stored
    local, stored = ({k: v for k, v in files.items() if k != "config.yaml" and not k.startswith("checkpoints/")}
                     for files in (local, stored))
    same_run(local, stored)
    site = subprocess.run([sys.executable, "-m", "lit_actmax.cli.main", "site", str(run)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **s3_server})
    assert site.returncode == 0, site.stderr[-2000:]
    assert (run / "site" / "index.html").is_file() and (run / "site" / "units" / "features.2" / "unit_00002.html").is_file()
