"""scripts/watch_training.py: the offline FeatureVisualization example trains, renders each epoch, draws the picture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "watch_training.py"


@pytest.mark.slow
def test_a_short_run_renders_every_class_before_training_and_after_each_epoch(tmp_path):
    picture = tmp_path / "picture.png"
    args = ["--out", str(tmp_path / "run"), "--epochs", "2", "--images", "64", "--steps", "4", "--size", "32",
            "--picture", str(picture)]
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Training with 3 renders of 4 classes (4 steps at 32 px)" in result.stdout
    folder = tmp_path / "run" / "lightning_logs" / "version_0" / "feature_visualization"
    record = json.loads((folder / "images" / "output" / "unit_00002.json").read_text())
    assert [f["caption"] for f in record["evolution"]] == ["start", "step 2", "step 4"]
    assert record["label"] == "diagonal stripes" and (folder / "site" / "units" / "output" / "unit_00002.html").is_file()
    assert Image.open(picture).size == (3 * (112 + 4) + 4, 4 * (112 + 4 + 14) + 4)  # 4 classes x 3 renders
    sheets = list((tmp_path / "run" / "lightning_logs" / "version_0" / "images").glob("feature_visualization_output_*.png"))
    assert len(sheets) == 3  # the CSV logger's PNG sheets
