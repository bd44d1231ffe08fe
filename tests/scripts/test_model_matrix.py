"""scripts/model_matrix.py: many architectures (random weights), three depths each, listed and rendered."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = "lit_actmax.testing:tiny_backbone"


@pytest.fixture(scope="module")
def matrix():
    spec = importlib.util.spec_from_file_location("model_matrix", ROOT / "scripts" / "model_matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_matrix"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def channel_dim(row) -> int:
    """The activation's channel dim read straight from its per-image shape and the layout kind."""
    return row.shape[0] if row.layout == "BCHW" or row.layout == "BC" else row.shape[-1]


def test_tiny_subset_writes_a_table_between_markers(matrix, tmp_path):
    out = tmp_path / "models.md"
    out.write_text(f"# Models\n\nprose before\n\n{matrix.BEGIN}\nold table\n{matrix.END}\n\nprose after\n")
    assert matrix.main(["--archs", TINY, "--steps", "2", "--size", "40", "--out", str(out)]) == 0
    text = out.read_text()
    assert "prose before" in text and "prose after" in text and "old table" not in text
    block = text.split(matrix.BEGIN)[1].split(matrix.END)[0]
    assert f"python scripts/model_matrix.py --archs {TINY} --steps 2 --size 40" in block and "torch " in block
    lines = [line for line in block.splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert header.count("|") == rule.count("|") == 13 and set(rule) <= {"|", "-"}
    assert [r.split("|")[3].strip() for r in rows] == ["early", "middle", "late"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert len(cells) == 12 and cells[4] in ("BCHW", "BC") and int(cells[5]) > 0
        assert " -> " in cells[8] and cells[9] in ("yes", "**no**") and cells[11] in ("yes", "**no**")
    assert "1 architectures, 3 layers:" in block


def test_layer_picking_prefers_block_outputs(matrix):
    import torch

    from lit_actmax.backbones.probe import list_layers

    backbone = matrix.build("resnet18")
    infos = list_layers(backbone.model, backbone.model_input(torch.full((1, 3, 64, 64), 0.5)))
    picked = [info.name for _, info in matrix.pick_layers(backbone.model, infos)]
    assert len(set(picked)) == 3 and all(name.startswith("layer") and name.count(".") == 1 for name in picked)


@pytest.mark.slow
def test_matrix_over_twelve_architectures_lists_and_renders_three_depths(matrix):
    rows, failures = [], []
    for arch in matrix.ARCHS:
        try:
            rows += matrix.run_arch(arch, size=96, steps=8, lr=0.02)
        except Exception as error:  # collect: one model's failure should not hide the others'
            failures.append(f"{arch}: {error!r}")
    assert not failures, failures
    assert len(matrix.ARCHS) >= 12 and len(rows) == 3 * len(matrix.ARCHS)
    for row in rows:
        where = f"{row.arch} {row.depth} {row.layer}"
        assert row.layout in ("BCHW", "BHWC", "BC") or row.layout.startswith("BNC:"), where
        assert row.channels == channel_dim(row), (where, row.layout, row.shape)
        assert row.true_channels in (None, row.channels), (where, row.true_channels, row.channels)
        for objective in ("Channel", "Neuron"):
            assert row.rises(objective), (where, objective, row.results[objective])
    assert sum(row.true_channels is not None for row in rows) >= len(rows) - 3  # the independent check ran
    kinds = {row.layout.split(":")[0] for row in rows}
    assert {"BCHW", "BHWC", "BNC"} <= kinds, kinds  # conv maps, channels-last maps and tokens all covered


@pytest.mark.slow
def test_fit_vit_b_16_at_128_without_input_size(tmp_path):
    from lit_actmax.cli.main import main

    code = main([
        "fit", "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.logger", "false",
        "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false",
        "--model.backbone", "torchvision:vit_b_16", "--model.weights", "null", "--model.size", "128",
        "--model.objective", "lit_actmax.objectives.Channel",
        "--model.objective.init_args.layer", "encoder.layers.encoder_layer_1",
        "--model.units", "0", "--model.batch_size", "1", "--model.steps_per_epoch", "1", "--model.epochs", "1",
        "--model.out_dir", str(tmp_path / "runs"), "--model.run_name", "vit",
    ])
    assert code == 0
    pngs = list((tmp_path / "runs").rglob("*.png"))
    assert pngs, sorted(p.name for p in (tmp_path / "runs").rglob("*"))
