"""``lit-actmax evolve``: a run's checkpoints rendered afterwards give the callback's images; the folder continues."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lit_actmax.cli.evolve import checkpoint_position, visualization_from_config
from lit_actmax.cli.main import main
from lit_actmax.errors import ConfigError
from lit_actmax.lightning.package import pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dist_helpers"))
from watched_training import train, visualization  # noqa: E402

#: The settings of watched_training.visualization (without every_n_steps) as a training config states them.
SETTINGS = {"units": {"1": "0-1", "output": "0-3"}, "model": "net", "size": 16, "steps": 4, "batch_size": 4,
            "transforms": {"class_path": "lit_actmax.augment.Compose", "init_args": {"transforms": [
                {"class_path": "lit_actmax.augment.Jitter", "init_args": {"d": 1}}]}}}


def training_config(path: Path, **changes) -> Path:
    """A LightningCLI training config that lists the callback and names the module's class."""
    callback = {"class_path": "lit_actmax.callbacks.FeatureVisualization", "init_args": {**SETTINGS, **changes}}
    path.write_text(yaml.safe_dump({"model": {"class_path": "watched_training.WatchedNet"},
                                    "trainer": {"callbacks": [callback]}}))
    return path


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.slow
def test_three_checkpoints_give_the_images_the_callback_made_and_a_rerun_adds_nothing(tmp_path, capsys):
    watch = visualization(str(tmp_path / "watched"), every_n_steps=None, site=False)
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpts"), save_top_k=-1, filename="{epoch}")
    train(tmp_path, watch, enable_checkpointing=True, callbacks=[watch, checkpoints])
    config = training_config(tmp_path / "train.yaml")
    argv = ["evolve", str(tmp_path / "ckpts" / "*.ckpt"), "--config", str(config), "--out", str(tmp_path / "evolved")]
    assert main(argv) == 0
    watched, evolved = tmp_path / "watched", tmp_path / "evolved"
    frames = sorted(p.relative_to(evolved) for p in evolved.glob("frames/*/unit_*/step_*.png"))
    assert len(frames) == 6 * 3 and {p.name for p in frames} == {"step_00000006.png", "step_00000012.png",
                                                                 "step_00000018.png"}
    for frame in frames:
        assert np.array_equal(pixels(evolved / frame), pixels(watched / frame)), frame
    for record in watched.glob("images/*/unit_*.json"):
        mine, theirs = json.loads(record.read_text()), json.loads((evolved / record.relative_to(watched)).read_text())
        assert [f["activation"] for f in mine["evolution"][1:]] == [f["activation"] for f in theirs["evolution"]]
    history = json.loads((evolved / "evolution.json").read_text())
    assert [(r["step"], r["epoch"], r["source"]) for r in history["renders"]] == [
        (6, 0, "epoch=0.ckpt"), (12, 1, "epoch=1.ckpt"), (18, 2, "epoch=2.ckpt")]
    assert (evolved / "site" / "units" / "1" / "unit_00001.html").is_file()
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("is rendered already") == 3
    assert main([*argv[:2], "--config", str(training_config(tmp_path / "other.yaml", size=24)), *argv[-2:]]) == 2
    assert "were made with other settings: size 16 (now 24)" in capsys.readouterr().err


def test_config_forms_and_mistakes(tmp_path, capsys):
    visual, model_class = visualization_from_config(str(training_config(tmp_path / "train.yaml")))
    assert model_class == "watched_training.WatchedNet" and visual.live.size == 16 and visual.live.model_choice == "net"
    (tmp_path / "own.yaml").write_text(yaml.safe_dump({"units": "0-3", "steps": 8}))
    visual, model_class = visualization_from_config(str(tmp_path / "own.yaml"))
    assert model_class is None and visual.live.steps == 8
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump({"units": "0-3", "stepz": 8}))
    with pytest.raises(ConfigError, match="typo.yaml: the FeatureVisualization settings do not parse"):
        visualization_from_config(str(tmp_path / "typo.yaml"))
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    with pytest.raises(ConfigError, match="is not a Lightning checkpoint"):
        checkpoint_position(tmp_path / "plain.ckpt")
    assert main(["evolve", str(tmp_path / "missing.ckpt"), "--config", str(tmp_path / "own.yaml")]) == 2
    assert "lit-actmax: error: Name the checkpoints' LightningModule class" in capsys.readouterr().err
    argv = ["evolve", str(tmp_path / "missing.ckpt"), "--config", str(tmp_path / "train.yaml")]
    assert main(argv) == 2
    assert "Checkpoint file" in capsys.readouterr().err
