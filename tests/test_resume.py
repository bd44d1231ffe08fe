"""Interrupt and resume: a run killed after a checkpoint and resumed from it ends with the uninterrupted images."""

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel, ConfigError
from lit_actmax.augment import Compose, Jitter, RandomScale
from lit_actmax.regularizers import TotalVariation
from lit_actmax.resume import skipped_epoch_boundary

TINY = "lit_actmax.testing:tiny_backbone"
KILLED = 3  # exit code of the helper's simulated preemption


@pytest.fixture(scope="module")
def reference(tmp_path_factory, render_units, load_ranks, images_of):
    """The uninterrupted run: 8 units, batch 4, 2 epochs of 3 steps per group (1 process: 2 groups, 12 steps)."""
    out = tmp_path_factory.mktemp("resume") / "reference"
    result = render_units(out, "--devices", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    return images_of(load_ranks(out))


@pytest.fixture
def interrupt_and_resume(render_units, load_ranks, images_of):
    """``interrupt_and_resume(out, devices, every, kill_at)``: a run killed after a checkpoint, resumed from it; its
    images."""

    def run(out: Path, devices: str, every: int, kill_at: int) -> dict[int, torch.Tensor]:
        first = render_units(out, "--devices", devices, "--ckpt-every", str(every), "--kill-at", str(kill_at))
        assert first.returncode == KILLED, first.stderr[-3000:]
        assert not list(out.glob("rank*.pt")) and not (out / "runs" / "dist" / "version_0" / "index.json").exists()
        second = render_units(out, "--devices", devices, "--ckpt-every", str(every), "--resume",
                              str(out / "ckpt" / "last.ckpt"))
        assert second.returncode == 0, second.stderr[-3000:]
        runs = list((out / "runs" / "dist").iterdir())
        assert [r.name for r in runs] == ["version_0"]  # the resumed run writes into the original run directory
        index = json.loads((runs[0] / "index.json").read_text())
        assert [r["unit"] for r in index["units"]] == list(range(8))
        return images_of(load_ranks(out))

    return run


def assert_same(reference, resumed):
    assert sorted(resumed) == sorted(reference)
    worst = max((reference[u] - resumed[u]).abs().max().item() for u in reference)
    assert worst == 0.0, worst  # the same process count replays the same arithmetic: bitwise equal


@pytest.mark.slow
def test_one_process_mid_epoch(reference, tmp_path, interrupt_and_resume):
    # checkpoint after step 4 = the middle of epoch 1 (steps 3-5) of the first group
    assert_same(reference, interrupt_and_resume(tmp_path, "1", every=2, kill_at=5))


@pytest.mark.slow
def test_one_process_at_epoch_and_group_boundary(reference, tmp_path, interrupt_and_resume):
    # checkpoint after step 6 = the last batch of group 0: Lightning would skip the epoch-end and epoch-start
    # hooks on resume (the helper's between-epoch callback and the module's group change live there)
    assert_same(reference, interrupt_and_resume(tmp_path, "1", every=2, kill_at=7))
    boundary = torch.load(tmp_path / "ckpt" / "step=6.ckpt", weights_only=False)
    middle = torch.load(tmp_path / "ckpt" / "step=4.ckpt", weights_only=False)
    assert skipped_epoch_boundary(boundary) and not skipped_epoch_boundary(middle)


@pytest.mark.slow
def test_two_processes_restore_each_rank_its_shard(reference, tmp_path, interrupt_and_resume):
    # 2 processes: one group per rank, 6 steps; the checkpoint after step 3 ends epoch 0
    assert_same(reference, interrupt_and_resume(tmp_path, "2", every=3, kill_at=4))
    checkpoint = torch.load(tmp_path / "ckpt" / "step=3.ckpt", weights_only=False)
    shards = checkpoint["unit_parallel"]
    assert shards["world_size"] == 2 and len(shards["shards"]) == 1
    rank1 = shards["shards"][0]
    key = next(iter(checkpoint["state_dict"]))
    assert (checkpoint["state_dict"][key] - rank1["state_dict"][key]).abs().max() > 1e-3
    moments = [c["optimizer_states"][0]["state"][0]["exp_avg"] for c in (checkpoint, rank1)]
    assert (moments[0] - moments[1]).abs().max() > 0
    tiny_module = ActMaxModule(
        backbone=TINY, objective=Channel("features.2"), regularizers=[TotalVariation(0.05)], units="0-7", size=32,
        batch_size=4, steps_per_epoch=3, epochs=2, seed=7, transforms=Compose([Jitter(2), RandomScale((0.9, 1.1))]),
        out_dir=str(tmp_path / "other"),
    )
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    with pytest.raises(ConfigError, match=r"written by 2 process\(es\) but this run has 1"):
        trainer.fit(tiny_module, ckpt_path=str(tmp_path / "ckpt" / "step=3.ckpt"))
