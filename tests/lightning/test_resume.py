"""Interrupt and resume: a run killed after a checkpoint (or stopped with Ctrl-C) and resumed from it ends with the
uninterrupted images, in the same run folder (from any working directory); checkpoints go into the run folder by
default; a command-line resume with other settings is refused."""

import json
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from lit_actmax import ActMaxModule, Channel, ConfigError
from lit_actmax.augment import Compose, Jitter, RandomScale
from lit_actmax.callbacks import KeepImages
from lit_actmax.lightning.epoch_replay import skipped_epoch_boundary
from lit_actmax.objectives.regularizers import TotalVariation

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


@pytest.mark.slow
def test_two_processes_checkpoint_into_the_run_folder_by_default(reference, tmp_path, render_units, load_ranks, images_of):
    """Without a dirpath, every rank's ModelCheckpoint writes into the broadcast run folder, and a resume from there
    (same process count) ends with the uninterrupted images."""
    run_dir = tmp_path / "runs" / "dist" / "version_0"
    args = ("--devices", "2", "--ckpt-every", "2", "--default-ckpt-dir")
    first = render_units(tmp_path, *args, "--kill-at", "5")
    assert first.returncode == KILLED, first.stderr[-3000:]
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file() and not (tmp_path / "checkpoints").exists()
    assert torch.load(checkpoint, weights_only=False)["actmax"]["run_dir"] == str(run_dir)
    second = render_units(tmp_path, *args, "--resume", str(checkpoint))
    assert second.returncode == 0, second.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs" / "dist").iterdir()] == ["version_0"]
    assert_same(reference, images_of(load_ranks(tmp_path)))


# -- fast, one process: the run folder, the default checkpoint folder, Ctrl-C, the command line ---------------------
def tiny(out_dir, **overrides) -> ActMaxModule:
    """Units 0-3 in 2 groups of 2; each group 2 epochs of 2 steps (8 steps); writes into ``out_dir``."""
    settings = dict(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=2, epochs=2,
                    steps_per_epoch=2, seed=3, transforms=Compose([Jitter(2)]), out_dir=str(out_dir), run_name="run")
    return ActMaxModule(**{**settings, **overrides})


class Interrupt(pl.Callback):
    """Ctrl-C before global step ``step``: a SIGINT (as a terminal sends it) or a bare ``KeyboardInterrupt``."""

    def __init__(self, step, signal_it):
        self.step, self.signal_it = step, signal_it

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            if self.signal_it:
                signal.raise_signal(signal.SIGINT)  # deferred by RunCheckpoint to the end of this step
            else:
                raise KeyboardInterrupt


@pytest.fixture
def sigint():
    """Python's own SIGINT handler during the test (a process started in the background, e.g. under ``nohup``,
    inherits SIGINT ignored, and Ctrl-C then never reaches anyone), and the handler as it was afterwards (Lightning
    ignores SIGINT while it shuts an interrupted fit down)."""
    handler = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, handler)


def test_checkpoints_go_into_the_run_folder_by_default(tmp_path, make_trainer):
    module = tiny(tmp_path / "runs")
    make_trainer(enable_checkpointing=True, max_steps=3).fit(module)
    run_dir = tmp_path / "runs" / "run" / "version_0"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "lightning_logs").exists()
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["actmax"]
    assert state["run_dir"] == str(run_dir.absolute())
    # a ModelCheckpoint with its own folder keeps it
    mine = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "mine"), save_last=True)
    make_trainer(enable_checkpointing=True, max_steps=2, callbacks=[mine]).fit(tiny(tmp_path / "runs"))
    assert (tmp_path / "mine" / "last.ckpt").is_file()
    assert not (tmp_path / "runs" / "run" / "version_1" / "checkpoints").exists()


def test_a_resume_from_another_working_directory_continues_the_same_run_folder(tmp_path, make_trainer, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    monkeypatch.chdir(first)
    make_trainer(enable_checkpointing=True, max_steps=5).fit(tiny("runs"))  # a relative out_dir; group 0 finished
    checkpoint = first / "runs" / "run" / "version_0" / "checkpoints" / "last.ckpt"
    monkeypatch.chdir(second)
    resumed = tiny("runs")
    make_trainer(enable_checkpointing=True).fit(resumed, ckpt_path=str(checkpoint))
    assert resumed.run_dir == first / "runs" / "run" / "version_0"
    index = json.loads((resumed.run_dir / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == [0, 1, 2, 3]
    assert not list(second.rglob("version_*"))  # the empty run folder setup made here is gone


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    finished = KeepImages()
    pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, callbacks=[finished], default_root_dir=str(out)).fit(tiny(out / "runs"))
    return finished.unit_images


# 5: in the middle of group 1 (steps 4-7); 3: the last step of group 0's last epoch (its images are final only after
# the epoch-end hooks, which the resumed run replays); a bare KeyboardInterrupt is not deferred: it stops before step 5
@pytest.mark.parametrize("step, signal_it", [(5, True), (3, True), (5, False)])
def test_ctrl_c_leaves_a_checkpoint_and_an_index_and_resumes_to_the_same_images(
        tmp_path, make_trainer, uninterrupted, sigint, step, signal_it):
    finished = KeepImages()
    with pytest.raises(SystemExit):  # Lightning exits with code 1 after a KeyboardInterrupt
        make_trainer(enable_checkpointing=True, callbacks=[finished, Interrupt(step, signal_it)]).fit(tiny(tmp_path))
    run_dir = tmp_path / "run" / "version_0"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    saved_step = torch.load(checkpoint, weights_only=False)["global_step"]
    assert saved_step == (step + 1 if signal_it else step)
    index = json.loads((run_dir / "index.json").read_text())
    done = [0, 1] if saved_step > 4 else []  # a group is finished after its last step's epoch end; group 1 is not
    assert [r["unit"] for r in index["units"]] == done and sorted(finished.unit_images) == done
    make_trainer(enable_checkpointing=True, callbacks=[finished]).fit(tiny(tmp_path), ckpt_path=str(checkpoint))
    assert sorted(finished.unit_images) == [0, 1, 2, 3]
    for unit, image in uninterrupted.items():
        assert torch.equal(finished.unit_images[unit], image), unit
    index = json.loads((run_dir / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and [p.name for p in (tmp_path / "run").iterdir()] == ["version_0"]


def test_ctrl_c_without_checkpointing_leaves_the_index_only(tmp_path, make_trainer, sigint):
    with pytest.raises(SystemExit):
        make_trainer(callbacks=[Interrupt(5, True)]).fit(tiny(tmp_path))
    run_dir = tmp_path / "run" / "version_0"
    assert [r["unit"] for r in json.loads((run_dir / "index.json").read_text())["units"]] == [0, 1]
    assert not (run_dir / "checkpoints").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_before_any_unit_is_finished_leaves_no_index(tmp_path, make_trainer, sigint):
    with pytest.raises(SystemExit):
        make_trainer(callbacks=[Interrupt(1, True)]).fit(tiny(tmp_path))
    assert not (tmp_path / "run").exists()  # nothing finished, nothing saved: no run folder


def cli_config(tmp_path, **model):
    config = {
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_checkpointing": True},
        "model": {"backbone": TINY, "units": "0-3", "size": 32, "batch_size": 2, "steps_per_epoch": 2, "epochs": 2,
                  "objective": {"class_path": "lit_actmax.objectives.Channel", "init_args": {"layer": "features.2"}},
                  "transforms": {"class_path": "lit_actmax.augment.Jitter", "init_args": {"d": 2}},
                  "out_dir": str(tmp_path / "runs"), "run_name": "cli", **model},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_a_cli_resume_with_other_settings_is_refused_and_with_the_same_continues(tmp_path, capsys, monkeypatch):
    from lit_actmax.cli.main import main

    config = cli_config(tmp_path)
    assert main(["fit", "--config", config, "--trainer.max_steps", "5"]) == 0
    run_dir = tmp_path / "runs" / "cli" / "version_0"
    checkpoint = str(run_dir / "checkpoints" / "last.ckpt")
    refused = [
        (["--model.units", "0,1,12,13"], "units [0, 1, 2, 3] (now [0, 1, 12, 13])"),
        (["--model.size", "48"], "size 32 (now 48)"),
        (["--model.objective.layer", "features.0"],
         "objective Channel(layer='features.2', unit=None) (now Channel(layer='features.0', unit=None))"),
    ]
    for args, named in refused:
        capsys.readouterr()
        assert main(["fit", "--config", config, *args, "--ckpt_path", checkpoint]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("lit-actmax: error: This checkpoint was made with other settings: " + named), err
        assert f"resume with the checkpoint's config ({run_dir / 'config.yaml'})" in err
    assert sorted(p.name for p in (tmp_path / "runs" / "cli").iterdir()) == ["version_0"]
    monkeypatch.chdir(tmp_path / "runs")  # another working directory: the same run folder
    assert main(["fit", "--config", config, "--ckpt_path", checkpoint]) == 0
    index = json.loads((run_dir / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == [0, 1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "runs" / "cli").iterdir()) == ["version_0"]


class FailAtTrainEnd(pl.Callback):
    """The run stops after its last checkpoint and before it writes its last group (callbacks' ``on_train_end`` runs
    before the module's)."""

    def on_train_end(self, trainer, pl_module):
        raise RuntimeError("stopped between the last checkpoint and the end of training")


# every step: the last checkpoint is the last batch's (the epoch-end hooks are replayed, no epoch starts after it);
# epoch end: Lightning finds the loop done on resume and runs no on_train_end (the module finishes in on_fit_end)
@pytest.mark.parametrize("checkpoint", [{"every_n_train_steps": 1}, {}], ids=["every_step", "epoch_end"])
def test_a_resume_from_the_last_checkpoint_writes_the_last_group_and_the_index(
        tmp_path, make_trainer, uninterrupted, checkpoint):
    saving = pl.callbacks.ModelCheckpoint(save_last=True, **checkpoint)
    with pytest.raises(RuntimeError, match="between the last checkpoint"):
        make_trainer(enable_checkpointing=True, callbacks=[saving, FailAtTrainEnd()]).fit(tiny(tmp_path))
    run_dir = tmp_path / "run" / "version_0"
    assert sorted(p.name for p in run_dir.glob("images/*/*.png")) == ["unit_00000.png", "unit_00001.png"]
    assert not (run_dir / "index.json").exists()
    finished = KeepImages()
    resumed = tiny(tmp_path)
    make_trainer(enable_checkpointing=True, callbacks=[finished, pl.callbacks.ModelCheckpoint(save_last=True, **checkpoint)]
                 ).fit(resumed, ckpt_path=str(run_dir / "checkpoints" / "last.ckpt"))
    assert sorted(finished.unit_images) == [2, 3] and resumed.run_finished
    for unit in (2, 3):
        assert torch.equal(finished.unit_images[unit], uninterrupted[unit]), unit
    index = json.loads((run_dir / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == [0, 1, 2, 3]
