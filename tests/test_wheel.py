"""The package stands alone: a wheel with its license, `py.typed` and configs, installed into a fresh venv, runs the
README's commands from an empty folder (no source tree, no repository configs/ beside it), with pytorch_lightning
and then with only the unified `lightning` package installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What never goes into the source copy the wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(".venv*", "build", "dist", "*.egg-info", "__pycache__", ".git", "actmax_runs",
                                    "lightning_logs", ".pytest_cache", ".peers", "runs", "*.ckpt")


def run(command: list[str], cwd: Path, timeout: int = 900, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the source tree (the working tree stays untouched) without network."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(source)],
        cwd=work)
    return next((work / "dist").glob("lit_actmax-*.whl"))


@pytest.mark.slow
def test_the_wheel_holds_license_typing_marker_configs_and_classifiers(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "lit_actmax/py.typed" in names
    assert {"lit_actmax/configs/quickstart.yaml", "lit_actmax/configs/presets/vit.yaml",
            "lit_actmax/configs/images/chelsea_160.jpg", "lit_actmax/data/spectrum_256.npz"} <= set(names)
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode())
    assert metadata["License-Expression"] == "MIT"
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"Programming Language :: Python :: {running}" in metadata.get_all("Classifier")  # the tested version is stated
    assert metadata["Requires-Python"] == ">=3.10"


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_fresh_venv_runs_the_readme_commands_from_an_empty_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python, lit_actmax = venv / "bin" / "python", venv / "bin" / "lit-actmax"
    constraints = ["-c", str(ROOT / "constraints.txt")] if (ROOT / "constraints.txt").is_file() else []
    # the same sources as `make install`: the registry, and the local torch wheels pip's configuration points to
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *constraints, str(wheel)],
        cwd=tmp_path, timeout=1800)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LIT_ACTMAX_LIGHTNING", "VIRTUAL_ENV")}
    where = run([str(python), "-c", "import lit_actmax; print(lit_actmax.__file__)"], cwd=empty, env=env)
    assert Path(where.strip()).is_relative_to(venv)  # the installed package, not this source tree
    assert "configs" in run([str(lit_actmax), "--help"], cwd=empty, env=env)
    assert "quickstart" in run([str(lit_actmax), "configs"], cwd=empty, env=env)
    assert "_blocks.8" in run([str(lit_actmax), "layers", "lite0"], cwd=empty, env=env)
    run([str(lit_actmax), "fit", "--config", "quickstart"], cwd=empty, env=env, timeout=1200)  # the README's quickstart
    run_dir = empty / "actmax_runs" / "quickstart" / "version_0"
    index = json.loads((run_dir / "index.json").read_text())
    assert sorted(r["unit"] for r in index["units"]) == [1, 9, 130, 207, 309, 417, 504, 947]
    assert all((run_dir / r["image"]).is_file() for r in index["units"])
    assert sorted(p.name for p in empty.iterdir()) == ["actmax_runs"]  # nothing else written into the folder
    assert (run_dir / "config.yaml").read_text().startswith("# pytorch_lightning==")

    # the same venv with the unified `lightning` package instead of pytorch_lightning (a user who never installed it)
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *constraints, "lightning"],
        cwd=tmp_path, timeout=1200)
    run([str(python), "-m", "pip", "uninstall", "--quiet", "-y", "pytorch-lightning", "lightning-fabric"], cwd=tmp_path)
    run([str(lit_actmax), "fit", "--config", "quickstart", "--model.units", "[1, 9]", "--trainer.max_steps", "2"],
        cwd=empty, env=env)
    config = (empty / "actmax_runs" / "quickstart" / "version_1" / "config.yaml").read_text()
    assert config.startswith("# lightning.pytorch==")
