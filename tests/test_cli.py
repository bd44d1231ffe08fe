"""Integration: the `lit-actmax` command and the YAML configs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lit_actmax.cli import main
from lit_actmax.lightning_cli import ActMaxCLI

ROOT = Path(__file__).resolve().parents[1]
TINY = "lit_actmax.testing:tiny_backbone"


def run_cli(*args, cwd):
    script = Path(sys.executable).parent / "lit-actmax"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lit_actmax"]
    return subprocess.run(command + list(args), cwd=cwd, capture_output=True, text=True, timeout=600)


def tiny_config(tmp_path, **model):
    config = {
        "trainer": {"accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": True},
        "model": {"backbone": TINY, "units": "0-2", "size": 32, "batch_size": 4, "steps_per_epoch": 2, "epochs": 2,
                  "objective": {"class_path": "lit_actmax.objectives.Channel", "init_args": {"layer": "features.2"}},
                  "regularizers": [{"class_path": "lit_actmax.regularizers.TotalVariation", "init_args": {"weight": 0.1}}],
                  "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.1}},
                  "out_dir": str(tmp_path / "runs"), "run_name": "cli", **model},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_fit_from_yaml_writes_images_index_and_resolved_config(tmp_path):
    result = run_cli("fit", "--config", str(tiny_config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "cli" / "version_0"
    index = json.loads((run / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == [0, 1, 2]
    assert index["regularizers"] == ["TotalVariation(0.1)"]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["backbone"] == TINY and saved["model"]["optimizer"]["init_args"]["lr"] == 0.1


@pytest.mark.slow
def test_unknown_config_key_is_refused(tmp_path):
    result = run_cli("fit", "--config", str(tiny_config(tmp_path, colour="red")), cwd=tmp_path)
    assert result.returncode != 0
    assert "does not accept option 'model.colour'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_user_errors_are_one_line(tmp_path, capsys):
    config = tiny_config(tmp_path, objective={"class_path": "lit_actmax.objectives.Channel",
                                              "init_args": {"layer": "features.9"}})
    assert main(["fit", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("lit-actmax: error: The model has no layer 'features.9'.")
    assert "features.2" in err


def test_layers_command_lists_names_and_shapes(capsys):
    assert main(["layers", TINY]) == 0
    out = capsys.readouterr().out
    assert "features.2" in out and "[16, 16, 16]" in out and "output" in out


def test_layers_command_marks_shared_modules(capsys):
    assert main(["layers", "lit_actmax.testing:shared_relu_net", "--size", "8"]) == 0
    assert "used 2x: hook one call as act#0" in capsys.readouterr().out


@pytest.mark.parametrize("config", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").rglob("*.yaml")))
@pytest.mark.slow
def test_every_shipped_config_parses(config, monkeypatch):
    """Each config (fragments merged onto the quickstart) is accepted by the CLI parser."""
    monkeypatch.chdir(ROOT)
    args = ["--config", config] if Path(ROOT / config).parent.name not in ("trainer", "model", "callbacks") else \
        ["--config", "configs/quickstart.yaml", "--config", config]
    from lit_actmax.models import BackboneError

    try:
        cli = ActMaxCLI(args=args, run=False)
    except BackboneError as error:  # pretrained torchvision weights are not cached on this machine
        assert "not cached" in str(error)
        cli = ActMaxCLI(args=args + ["--model.weights", "null"], run=False)
    assert cli.model is not None
