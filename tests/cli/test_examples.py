"""``lit-actmax examples``: dataset examples of a finished run, saved into it, the gallery rebuilt; mistakes are one
line and exit 2, before any model is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lit_actmax import ActMaxModule, Channel, Compose, Pixel
from lit_actmax.cli.main import main

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Eight small images of different colours and contrasts (one in a subfolder) and a file that is not one."""
    root = tmp_path_factory.mktemp("images")
    (root / "more").mkdir()
    g = np.random.default_rng(0)
    for i in range(8):
        array = 128 + g.normal(0, 10 + 10 * i, (24, 30, 3)) + g.integers(-60, 60, 3)
        Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(root / ("more" if i == 7 else "") / f"i{i}.png")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    import pytorch_lightning as pl

    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="2,5", size=32, batch_size=2,
                          steps_per_epoch=1, epochs=1, param=Pixel(), transforms=Compose([]),
                          out_dir=str(tmp_path_factory.mktemp("runs")), run_name="ex")
    pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(module)
    return module.run_dir


def test_the_command_saves_the_runs_examples_and_rebuilds_its_gallery(run_dir, folder, capsys):
    assert main(["examples", str(run_dir), "--images", str(folder), "--k", "3", "--least", "--thumb", "24"]) == 0
    assert "dataset examples of 2 units from 8 images" in capsys.readouterr().out
    data = json.loads((run_dir / "examples" / "features.2" / "examples.json").read_text())
    assert data["objective"] == "Channel(features.2)" and data["backbone"] == TINY and set(data["units"]) == {"2", "5"}
    assert all(len(lists["top"]) == len(lists["bottom"]) == 3 for lists in data["units"].values())
    assert Image.open(run_dir / data["units"]["2"]["top"][0]["image"]).size == (24, 24)
    assert "most activating dataset images" in (run_dir / "gallery.html").read_text()  # rebuilt with the examples


def test_mistakes_are_one_line_and_exit_2(run_dir, folder, tmp_path, capsys):
    assert main(["examples", str(run_dir), "--images", str(tmp_path / "none")]) == 2
    assert "lit-actmax examples: error: Image folder" in capsys.readouterr().err
    assert main(["examples", str(tmp_path), "--images", str(folder)]) == 2
    assert "index.json' does not exist; give a finished run directory." in capsys.readouterr().err
    assert main(["examples", str(run_dir), "--images", str(folder), "--objective", "Direction(features.2)"]) == 2
    assert "pass --objective as Channel(<layer>)" in capsys.readouterr().err


def test_help_and_bad_arguments_load_no_lightning(tmp_path):
    code = ("import sys; from lit_actmax.cli.main import main; main(['examples', sys.argv[1], '--images', sys.argv[1]]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytorch_lightning', 'torchmetrics')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "[]" and "does not exist" in out.stderr
