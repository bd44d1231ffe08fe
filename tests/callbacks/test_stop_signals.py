"""StopSignals: SIGTERM stops a fit at the end of the step with exit code 75, a checkpoint, an index and a sentence; a
second SIGTERM stops at once; SLURM's requeue checkpoints do not pile up."""

import json
import signal

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import Compose, Jitter
from lit_actmax.callbacks.stop_signals import remove_hpc_checkpoints
from lit_actmax.exits import EXIT_PREEMPTED, Preempted

TINY = "lit_actmax.testing:tiny_backbone"


def tiny(out_dir) -> ActMaxModule:
    """Units 0-3 in 2 groups of 2; each group 2 epochs of 2 steps (8 steps)."""
    return ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=2, epochs=2,
                        steps_per_epoch=2, seed=3, transforms=Compose([Jitter(2)]), out_dir=str(out_dir),
                        run_name="run")


class Term(pl.Callback):
    """SIGTERM to this process before global step ``step`` (``times`` of them)."""

    def __init__(self, step: int, times: int = 1) -> None:
        self.step, self.times = step, times

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            for _ in range(self.times):
                signal.raise_signal(signal.SIGTERM)


@pytest.fixture
def handlers():
    """Give SIGTERM's and SIGINT's handlers back as they were."""
    kept = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in kept.items():
        signal.signal(s, handler)


def test_sigterm_stops_after_the_step_with_75_a_checkpoint_an_index_and_a_sentence(tmp_path, make_trainer, handlers,
                                                                                   capsys):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted) as stopped:
        make_trainer(enable_checkpointing=True, callbacks=[Term(5)]).fit(tiny(tmp_path))
    assert stopped.value.code == EXIT_PREEMPTED == 75 and stopped.value.every_rank
    assert signal.getsignal(signal.SIGTERM) == before  # no handler of the fit is left
    run_dir = tmp_path / "run" / "version_0"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(checkpoint, weights_only=False)["global_step"] == 6  # the step that was running was finished
    assert [r["unit"] for r in json.loads((run_dir / "index.json").read_text())["units"]] == [0, 1]
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lit-actmax: stopped")]
    assert said == [f"lit-actmax: stopped by SIGTERM (exit code 75): the 2 finished image(s) are listed in "
                    f"{run_dir / 'index.json'}; resume with ckpt_path {checkpoint}."]


def test_a_second_sigterm_stops_at_once_before_the_step_that_was_to_run(tmp_path, make_trainer, handlers):
    with pytest.raises(Preempted) as stopped:
        make_trainer(enable_checkpointing=True, callbacks=[Term(5, times=2)]).fit(tiny(tmp_path))
    assert stopped.value.code == 75 and not stopped.value.every_rank
    run_dir = tmp_path / "run" / "version_0"
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    assert saved == 5  # stopped between steps (one process): the state after step 5 is whole, and saved
    assert [r["unit"] for r in json.loads((run_dir / "index.json").read_text())["units"]] == [0, 1]


def test_requeue_checkpoints_keep_only_the_newest_and_none_when_asked(tmp_path):
    for n in (1, 2, 10):
        (tmp_path / f"hpc_ckpt_{n}.ckpt").write_bytes(b"x")
    (tmp_path / "last.ckpt").write_bytes(b"x")
    remove_hpc_checkpoints(tmp_path, keep_newest=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hpc_ckpt_10.ckpt", "last.ckpt"]
    remove_hpc_checkpoints(tmp_path, keep_newest=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
