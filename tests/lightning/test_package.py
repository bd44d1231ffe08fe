"""lightning/package.py and package_choice.py: one code base on `lightning` or `pytorch_lightning`, whichever the user
imports; a process that mixes them gets one sentence. The README under each package, with the other one made
unimportable (tests/dist_helpers/flavor_run.py), including 2 processes with unit_parallel."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lit_actmax
from lit_actmax.errors import ConfigError
from lit_actmax.lightning import package_choice
from lit_actmax.lightning.package_choice import ENV_VAR, chosen_package, package_named_in

ROOT = Path(__file__).resolve().parents[2]
FLAVOR_RUN = ROOT / "tests" / "dist_helpers" / "flavor_run.py"
FLAVORS = ("lightning", "pytorch_lightning")
LIGHTNING_NAMES = ("pytorch_lightning", "lightning", "lightning_fabric")


@pytest.fixture
def modules(monkeypatch):
    """``modules(*imported)``: a process that has imported exactly these of the two packages (and no env choice)."""
    monkeypatch.delenv(ENV_VAR, raising=False)

    def imported(*names: str) -> None:  # both are installed here; the others are importable, not imported
        fake = {k: v for k, v in sys.modules.items() if k not in FLAVORS}
        monkeypatch.setattr(package_choice.sys, "modules", {**fake, **{name: object() for name in names}})

    return imported


def test_the_package_the_process_imported_is_chosen(modules):
    modules("lightning")
    assert chosen_package() == "lightning"
    modules("pytorch_lightning")
    assert chosen_package() == "pytorch_lightning"
    modules()
    assert chosen_package() == "pytorch_lightning"  # neither imported: the dependency


def test_both_imported_is_one_sentence_naming_the_fix(modules):
    modules("lightning", "pytorch_lightning")
    with pytest.raises(ConfigError, match=r"imports both .*import only the one your Trainer comes from.*LIT_ACTMAX_LIGHTNING"):
        chosen_package()


def test_the_environment_variable_decides_and_is_checked(modules, monkeypatch):
    modules()
    monkeypatch.setenv(ENV_VAR, "lightning")
    assert chosen_package() == "lightning"
    monkeypatch.setenv(ENV_VAR, "torch_lightning")
    with pytest.raises(ConfigError, match="names no Lightning package"):
        chosen_package()
    modules("pytorch_lightning")
    monkeypatch.setenv(ENV_VAR, "lightning")
    with pytest.raises(ConfigError, match="imports both"):
        chosen_package()


def test_class_paths_name_the_package():
    assert package_named_in(["--trainer.callbacks+=lightning.pytorch.callbacks.LearningRateMonitor"]) == "lightning"
    assert package_named_in(["trainer:\n  logger: {class_path: pytorch_lightning.loggers.CSVLogger}"]) == "pytorch_lightning"
    assert package_named_in(["lit_actmax.lightning.package", "lightning_logs/"]) is None
    with pytest.raises(ConfigError, match="both `lightning.pytorch` and `pytorch_lightning`"):
        package_named_in(["lightning.pytorch.callbacks.Timer", "pytorch_lightning.loggers.CSVLogger"])


def test_every_lightning_side_module_imports_lightning_only_through_the_helper():
    """One code base: no module but lightning/package.py names a Lightning package in an import (type-checking ones
    included), so the choice is made in one place."""
    package = Path(lit_actmax.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "package.py" and path.parent.name == "lightning":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(package)}: {n}" for n in names if n.split(".")[0] in LIGHTNING_NAMES]
    assert offenders == []


def test_a_module_built_after_importing_the_other_package_is_refused():
    code = ("import pytorch_lightning, lit_actmax; lit_actmax.ActMaxModule; import lightning\n"
            "try:\n    lit_actmax.ActMaxModule(backbone='lit_actmax.testing:tiny_backbone', save_outputs=False)\n"
            "except lit_actmax.ConfigError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("this process imports both `pytorch_lightning` and `lightning`"), out.stdout


def run_flavor(flavor: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(FLAVOR_RUN), flavor, *args], capture_output=True, text=True,
                            timeout=600, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("devices", [1, 2])
def test_the_readme_python_example_runs_on_each_package(flavor, devices, tmp_path):
    out = json.loads(run_flavor(flavor, "readme", str(tmp_path / "runs"), str(devices), cwd=tmp_path).stdout.splitlines()[-1])
    assert out["trainer"].startswith("lightning.pytorch" if flavor == "lightning" else "pytorch_lightning")
    assert out["blocked_loaded"] == []
    assert out["strategy"] == ("UnitParallelStrategy" if devices == 2 else "SingleDeviceStrategy")
    index = json.loads((Path(out["run_dir"]) / "index.json").read_text())
    assert sorted(r["unit"] for r in index["units"]) == [0, 1, 2, 3]
    assert {r["rank"] for r in index["units"]} == set(range(devices))
    assert out["shape"] == [2, 3, 64, 64]


@pytest.mark.slow
@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_cli_quickstart_runs_on_each_package_with_two_processes(flavor, tmp_path):
    run_flavor(flavor, "cli", "fit", "--config", "quickstart", "--config", "trainer/cpu_2proc", "--model.units", "[1, 2]",
               "--model.size", "64", "--trainer.max_steps", "2", cwd=tmp_path)
    run = tmp_path / "actmax_runs" / "quickstart" / "version_0"
    assert sorted(r["unit"] for r in json.loads((run / "index.json").read_text())["units"]) == [1, 2]
    header = (run / "config.yaml").read_text().splitlines()[0]
    assert header.startswith("# lightning.pytorch==" if flavor == "lightning" else "# pytorch_lightning==")


@pytest.mark.slow
def test_the_cli_loads_the_package_its_class_paths_name(tmp_path):
    """The issue's `--trainer.callbacks+=lightning.pytorch.callbacks.LearningRateMonitor`, from a fresh process that
    imported neither package: lit_actmax loads `lightning` for it; both spellings in one command are one sentence."""
    lit_actmax_command = [sys.executable, "-m", "lit_actmax"]
    common = ["fit", "--config", "quickstart", "--model.units", "[1]", "--model.size", "64", "--trainer.max_steps", "1"]
    result = subprocess.run([*lit_actmax_command, *common, "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
                             "--trainer.logger.save_dir", "logs",
                             "--trainer.callbacks+=lightning.pytorch.callbacks.LearningRateMonitor"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    config = (tmp_path / "actmax_runs" / "quickstart" / "version_0" / "config.yaml").read_text()
    assert config.startswith("# lightning.pytorch==") and "lightning.pytorch.callbacks.LearningRateMonitor" in config
    mixed = subprocess.run([*lit_actmax_command, *common, "--trainer.logger", "pytorch_lightning.loggers.CSVLogger",
                            "--trainer.callbacks+=lightning.pytorch.callbacks.Timer"],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert mixed.returncode == 2 and mixed.stderr.count("\n") == 1, mixed.stderr[-2000:]
    assert "name classes of both `lightning.pytorch` and `pytorch_lightning`" in mixed.stderr
    assert not (tmp_path / "actmax_runs" / "quickstart" / "version_1").exists()


def test_every_name_of_the_helper_loads_from_the_chosen_package():
    from lit_actmax.lightning import package

    assert set(package.__all__) == {"PACKAGE", "pl", "check_single_package", *package.NAMES}
    root = package.PACKAGES[package.PACKAGE]
    for name in package.NAMES:
        value = getattr(package, name)
        assert getattr(value, "__module__", getattr(value, "__name__", "")).split(".")[0] in {r.split(".")[0] for r in root} | {
            "lightning_utilities"}, name  # Fabric's apply_to_collection comes from lightning_utilities
