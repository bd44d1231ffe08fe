"""``lit-actmax atlas``: units of many layers in one continued folder, dataset examples and the site."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from lit_actmax.cli.atlas import default_atlas_dir
from lit_actmax.cli.main import main
from lit_actmax.errors import ConfigError

TINY = "lit_actmax.testing:tiny_backbone"


def atlas_config(tmp_path: Path, units: dict, **trainer) -> Path:
    config = {
        "trainer": {"accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": False, "enable_model_summary": False, **trainer},
        "model": {"backbone": TINY, "units": units, "size": 32, "batch_size": 4, "steps_per_epoch": 3, "epochs": 2,
                  "param": {"class_path": "lit_actmax.params.Pixel"},
                  "transforms": {"class_path": "lit_actmax.augment.Compose", "init_args": {"transforms": []}},
                  "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.1}},
                  "out_dir": str(tmp_path / "runs"), "run_name": "tour"},
    }
    path = tmp_path / f"atlas_{len(units)}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def image_folder(tmp_path: Path, count: int = 6) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"photo_{i}.png")
    return folder


def pngs(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): np.asarray(Image.open(p)) for p in sorted(folder.glob("images/*/unit_*.png"))}


#: The explanation score's embedding in these tests: the tiny backbone at two depths (the default, lite0, is slow).
TINY_EMBEDDING = ["--embedding", TINY, "--embedding-layers", "features.0", "features.4"]


def test_an_atlas_renders_adds_examples_and_writes_the_site_then_continues(tmp_path, capsys):
    photos = image_folder(tmp_path)
    first = {"features.2": "0-3", "output": "0-2"}
    assert main(["atlas", "--config", str(atlas_config(tmp_path, first)), "--images", str(photos), "--k", "2",
                 *TINY_EMBEDDING]) == 0
    run = default_atlas_dir(str(tmp_path / "runs"), "tour", TINY)
    assert run == tmp_path / "runs" / "tour" / "atlas"
    index = json.loads((run / "index.json").read_text())
    assert sorted({(r["layer"], r["unit"]) for r in index["units"]}) == [
        ("features.2", 0), ("features.2", 1), ("features.2", 2), ("features.2", 3), ("output", 0), ("output", 1),
        ("output", 2)]
    for layer, units in (("features.2", 4), ("output", 3)):
        examples = json.loads((run / "examples" / layer / "examples.json").read_text())
        assert len(examples["units"]) == units and all(len(e["top"]) == 2 for e in examples["units"].values())
    assert (run / "site" / "index.html").is_file()
    assert (run / "site" / "units" / "features.2" / "unit_00003.html").is_file()
    out = capsys.readouterr().out
    assert "Dataset examples: 2 layer(s) added" in out and "Atlas site:" in out
    # every unit's explanation score: recorded beside its layer's examples (bottom lists kept: the weak queries),
    # reported per layer, shown on its unit page, its layer page's cards sort by it, the model page's rows too
    assert re.search(r"Explanation scores \(.*\): features\.2 \d\.\d\d \(\d\.\d\d\), output \d\.\d\d", out)
    for layer, units in (("features.2", 4), ("output", 3)):
        scores = json.loads((run / "examples" / layer / "explanation_scores.json").read_text())
        assert scores["embedding"] == f"{TINY} features.0+features.4, mean over positions, 32 px"
        assert len(scores["units"]) == units
        assert all(0 <= u["picture"] <= 1 and 0 <= u["examples"] <= 1 and u["pairs"] == 1 * 2
                   for u in scores["units"].values())
        examples = json.loads((run / "examples" / layer / "examples.json").read_text())
        assert all(len(e["bottom"]) == 2 for e in examples["units"].values())
    unit_score = scores["units"]["2"]["picture"]  # output's unit 2
    page = (run / "site" / "units" / "output" / "unit_00002.html").read_text()
    assert re.search(rf'class="score"[^>]*>explanation score <b>{unit_score:.2f} \(examples \d', page)
    layer_page = (run / "site" / "layers" / "output.html").read_text()
    assert f'data-score="{unit_score:.6g}"' in layer_page and "sortCards('score',-1)" in layer_page
    model_page = (run / "site" / "index.html").read_text()
    assert "<th>explanation score</th>" in model_page and '<tbody class="sortable">' in model_page
    assert f'data-score="{scores["picture"]:.6g}"' in model_page
    before = {p: p.stat().st_mtime_ns for p in run.glob("images/*/unit_*.png")}
    examples_before = (run / "examples" / "features.2" / "examples.json").stat().st_mtime_ns

    # one more layer: only it is rendered, only its examples are found
    more = {**first, "features.0": "0-1"}
    scored = (run / "examples" / "features.2" / "explanation_scores.json").stat().st_mtime_ns
    assert main(["atlas", "--config", str(atlas_config(tmp_path, more)), "--images", str(photos), "--k", "2",
                 *TINY_EMBEDDING]) == 0
    assert (run / "examples" / "features.2" / "explanation_scores.json").stat().st_mtime_ns == scored  # current
    assert (run / "examples" / "features.0" / "explanation_scores.json").is_file()
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert sorted(p.name for p in (run / "images" / "features.0").glob("*.png")) == ["unit_00000.png", "unit_00001.png"]
    assert (run / "examples" / "features.2" / "examples.json").stat().st_mtime_ns == examples_before
    assert "Dataset examples: 1 layer(s) added (features.0)" in capsys.readouterr().out
    assert (run / "site" / "layers" / "features.0.html").is_file()
    assert len(json.loads((run / "index.json").read_text())["units"]) == 9


def test_an_atlas_at_a_memory_url_continues_and_writes_its_site_there(tmp_path):
    from lit_actmax.run.storage import location

    out_dir = f"memory://atlas-test/{tmp_path.name}"
    configs = []
    for units in ({"features.2": "0-1"}, {"features.2": "0-1", "output": "0-1"}):
        path = atlas_config(tmp_path, units)
        config = yaml.safe_load(path.read_text())
        config["model"]["out_dir"] = out_dir
        path.write_text(yaml.safe_dump(config))
        configs.append(str(path))
    assert main(["atlas", "--config", configs[0]]) == 0
    run = default_atlas_dir(out_dir, "tour", TINY)
    assert str(run) == f"memory:///atlas-test/{tmp_path.name}/tour/atlas"
    before = {p.path: run.fs.info(p.path)["created"] for p in run.glob("images/*/unit_*.png")}
    assert len(before) == 2 and (run / "site" / "units" / "features.2" / "unit_00001.html").is_file()
    assert main(["atlas", "--config", configs[1]]) == 0  # only the output layer is rendered
    assert {path: run.fs.info(path)["created"] for path in before} == before
    assert sorted(p.name for p in location(str(run / "images" / "output")).glob("*.png")) == [
        "unit_00000.png", "unit_00001.png"]
    assert len(json.loads((run / "index.json").read_text())["units"]) == 4
    assert (run / "site" / "layers" / "output.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atlas_1.yaml", "atlas_2.yaml"]  # nothing local


def test_an_atlas_refuses_a_checkpoint_and_a_missing_image_folder(tmp_path):
    config = str(atlas_config(tmp_path, {"features.2": "0-1"}))
    with pytest.raises(ConfigError, match="drop --ckpt_path"):
        from lit_actmax.cli.atlas import atlas_command

        atlas_command(["--config", config, "--ckpt_path", "last.ckpt"])
    assert main(["atlas", "--config", config, "--images", str(tmp_path / "nowhere")]) == 2
    assert not (tmp_path / "runs").exists()


def test_an_atlas_refuses_an_explanation_score_it_cannot_compute_before_rendering(tmp_path, capsys):
    config, photos = str(atlas_config(tmp_path, {"features.2": "0-1"})), str(image_folder(tmp_path))
    for extra, sentence in ((["--k", "1", *TINY_EMBEDDING], "needs at least 2 dataset examples per unit"),
                            (["--embedding", TINY], "Name the layers of the embedding backbone"),
                            (["--embedding", TINY, "--embedding-layers", "nowhere"], "nowhere")):
        assert main(["atlas", "--config", config, "--images", photos, *extra]) == 2
        assert sentence in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_two_processes_render_the_atlas_of_one(tmp_path):
    units = {"features.0": "0-4", "features.2": "0-6", "output": "0-3"}
    folders = {}
    for devices in (1, 2):
        work = tmp_path / f"devices_{devices}"
        work.mkdir()
        extra = {"strategy": "unit_parallel"} if devices == 2 else {}
        config = atlas_config(work, units, devices=devices, **extra)
        result = subprocess.run([sys.executable, "-m", "lit_actmax.cli.main", "atlas", "--config", str(config)], cwd=work,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        folders[devices] = work / "runs" / "tour" / "atlas"
    one, two = pngs(folders[1]), pngs(folders[2])
    assert len(one) == 16 and sorted(one) == sorted(two)
    for name in one:
        assert np.array_equal(one[name], two[name]), name
    index = json.loads((folders[2] / "index.json").read_text())
    assert {r["rank"] for r in index["units"]} == {0, 1} and (folders[2] / "site" / "index.html").is_file()


@pytest.mark.slow
def test_the_lite0_atlas_config_selects_193_units_of_8_layers():
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    root = Path(__file__).resolve().parents[2]
    cli = ActMaxCLI(args=["--config", str(root / "configs" / "atlas" / "lite0.yaml")], run=False)
    module = cli.model
    layers = [module.renderer.target_layer(t) for t, _ in module.schedule.keys]
    assert len(layers) == 193 and list(dict.fromkeys(layers)) == [
        "_blocks.1", "_blocks.3", "_blocks.5", "_blocks.8", "_blocks.11", "_blocks.13", "_blocks.15", "output"]
    assert module.renderer.describe_target(7) == "ClassLogit(output)" and module.schedule.steps_per_unit == 128
