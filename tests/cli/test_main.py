"""Integration: the `lit-actmax` command and the YAML configs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lit_actmax.cli.lightning_cli import ActMaxCLI
from lit_actmax.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
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
                  "regularizers": [{"class_path": "lit_actmax.objectives.regularizers.TotalVariation", "init_args": {"weight": 0.1}}],
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
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("lit-actmax: error:")]
    assert lines == [f"lit-actmax: error: {tmp_path / 'config.yaml'}: unknown key 'model.colour'; see `lit-actmax fit --help`."]
    assert "usage:" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_user_errors_are_one_line(tmp_path, capsys):
    config = tiny_config(tmp_path, objective={"class_path": "lit_actmax.objectives.Channel",
                                              "init_args": {"layer": "features.9"}})
    assert main(["fit", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("lit-actmax: error: The model has no layer 'features.9'.")
    assert "features.2" in err


@pytest.mark.parametrize("before", [None, "pytorch_lightning"])
def test_main_in_process_leaves_the_package_choice_as_it_found_it(before, tmp_path, monkeypatch, capsys):
    """A config naming pytorch_lightning classes sets LIT_ACTMAX_LIGHTNING for the run's ranks; a caller's later
    subprocesses (a `lightning` user's next run, another test) must not inherit it."""
    if before is None:
        monkeypatch.delenv("LIT_ACTMAX_LIGHTNING", raising=False)
    else:
        monkeypatch.setenv("LIT_ACTMAX_LIGHTNING", before)
    config = tiny_config(tmp_path, objective={"class_path": "lit_actmax.objectives.Channel",
                                              "init_args": {"layer": "features.9"}})
    settings = yaml.safe_load(config.read_text())
    settings["trainer"]["callbacks"] = [{"class_path": "pytorch_lightning.callbacks.ModelSummary"}]
    config.write_text(yaml.safe_dump(settings))
    assert main(["fit", "--config", str(config)]) == 2  # refused after the arguments chose the package
    assert "features.9" in capsys.readouterr().err
    assert os.environ.get("LIT_ACTMAX_LIGHTNING") == before


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
    if Path(ROOT / config).parent.name == "presets":  # recipes for a family of models: the family's model
        args += ["--model.backbone", "torchvision:vit_b_16", "--model.weights", "null", "--model.size", "64"]
    from lit_actmax.backbones import BackboneError

    try:
        cli = ActMaxCLI(args=args, run=False)
    except BackboneError as error:  # pretrained torchvision weights are not cached on this machine
        assert "not cached" in str(error)
        cli = ActMaxCLI(args=args + ["--model.weights", "null"], run=False)
    assert cli.model is not None


def test_fit_is_quiet_counts_units_and_ends_by_saying_where_the_files_are(tmp_path):
    """The CLI's defaults: no seed or tip chatter, no warnings, no lightning_logs/, a bar in units, a closing line."""
    path = tiny_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["trainer"] = {"accelerator": "cpu", "devices": 1}  # the defaults decide logger, bar and summary
    path.write_text(yaml.safe_dump(config))
    result = run_cli("fit", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    for noise in ("Seed set", "seed set", "Tip", "litlogger", "litmodels", "max_epochs", "Epoch 0", "Warning"):
        assert noise not in output, (noise, output[-3000:])
    assert not re.search(r"\.py:\d+: ", result.stderr), result.stderr  # how Lightning prints its warnings
    assert not (tmp_path / "lightning_logs").exists()
    run = tmp_path / "runs" / "cli" / "version_0"
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"Rendered 3 units into {run}: images/features.2/, grids/features.2.png, index.json "
                    f"(gallery: lit-actmax gallery {run})"), last
    bar = [line.strip() for line in re.split(r"[\r\n]", result.stdout) if line.strip()]
    assert bar[-1].startswith("units 3/3 [group 1/1] step 4/4: 100%|"), bar
    assert "ETA" in bar[-1]


@pytest.mark.parametrize("command", ["validate", "test", "predict"])
def test_only_subcommands_that_work_are_offered(command, tmp_path, capsys):
    assert main([command, "--config", str(tiny_config(tmp_path))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"lit-actmax: error: '{command}' is not a subcommand; use fit, layers, gallery, site, ")
    assert err[0].endswith(" or completion (lit-actmax --help).") and len(err) == 1
    assert main(["--help"]) == 0
    assert command not in capsys.readouterr().out
    assert list(ActMaxCLI.subcommands()) == ["fit"]
    from lit_actmax.errors import ActMaxError

    with pytest.raises((SystemExit, ActMaxError)) as refused:  # the parser itself knows only fit
        ActMaxCLI(args=[command, "--config", str(tiny_config(tmp_path))])
    assert refused.value.code == 2 if isinstance(refused.value, SystemExit) else "choose from 'fit'" in str(refused.value)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("trainer, shown", [
    ({"enable_progress_bar": False}, None),
    ({"enable_progress_bar": True, "callbacks": [{"class_path": "pytorch_lightning.callbacks.TQDMProgressBar"}]},
     "Epoch 0"),
    ({}, "units 3/3 [group 1/1]"),
])
def test_the_unit_progress_bar_is_the_default_and_can_be_replaced_or_disabled(trainer, shown, tmp_path, capsys,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tiny_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["trainer"] = {"accelerator": "cpu", "devices": 1, "enable_checkpointing": False, **trainer}
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    if shown is None:
        assert out.strip() == "", out
    else:
        assert shown in out and ("units" in shown) == ("units" in out), out
    assert not (tmp_path / "lightning_logs").exists()
