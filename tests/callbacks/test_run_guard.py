"""RunGuard and the module's promise: a fit that fails gives the user's model back untouched and leaves no empty run
folder; a fit that succeeds gives it back too."""

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel
from lit_actmax.callbacks.run_guard import failure_of
from lit_actmax.callbacks.stop_signals import Interrupted
from lit_actmax.errors import DivergenceError
from lit_actmax.exits import Preempted, explanation
from lit_actmax.testing import tiny_convnet

#: The user's own model object, handed out by ``user_model`` (a spec "<module>:<callable>" may return a shared one).
USER_MODEL = tiny_convnet(seed=1)


def user_model() -> torch.nn.Module:
    return USER_MODEL


class Boom(pl.Callback):
    """Raise inside the step ``at`` (0-based), or a KeyboardInterrupt with ``interrupt``."""

    def __init__(self, at: int = 1, interrupt: bool = False) -> None:
        self.at, self.interrupt = at, interrupt

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.at:
            raise KeyboardInterrupt if self.interrupt else RuntimeError("boom")


def user_state(model: torch.nn.Module) -> tuple:
    return (tuple(p.requires_grad for p in model.parameters()), tuple(m.training for m in model.modules()),
            len(model._forward_hooks) + sum(len(m._forward_hooks) for m in model.modules()))


def module(tmp_path, **overrides) -> ActMaxModule:
    settings = dict(backbone=f"{__name__}:user_model", objective=Channel("features.2"), units="0-3", size=32,
                    batch_size=2, epochs=1, steps_per_epoch=3, out_dir=str(tmp_path / "runs"), run_name="guarded")
    return ActMaxModule(**{**settings, **overrides})


@pytest.fixture
def fresh_user_model():
    """The user's model in training mode with trainable weights, as a user would have it; restored afterwards."""
    USER_MODEL.train().requires_grad_(True)
    yield USER_MODEL
    USER_MODEL.train().requires_grad_(True)


def test_building_the_module_leaves_the_user_s_model_as_it_was(tmp_path, fresh_user_model):
    before = user_state(fresh_user_model)
    module(tmp_path)
    assert user_state(fresh_user_model) == before


def test_a_step_that_raises_leaves_no_hook_no_freeze_and_no_empty_run_folder(tmp_path, make_trainer, fresh_user_model):
    before = user_state(fresh_user_model)
    x = torch.rand(2, 3, 32, 32)
    reference = fresh_user_model.eval()(x)
    fresh_user_model.train()
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(callbacks=[Boom(at=1)]).fit(module(tmp_path))
    assert user_state(fresh_user_model) == before  # no hook, same requires_grad, same train/eval modes
    torch.testing.assert_close(fresh_user_model.eval()(x), reference)  # a plain forward runs to the end
    assert not (tmp_path / "runs" / "guarded").exists()  # nothing was finished: nothing is left


def test_a_failure_after_finished_units_keeps_them(tmp_path, make_trainer, fresh_user_model):
    with pytest.raises(RuntimeError, match="boom"):  # group 0 (units 0, 1) finishes after 3 steps; fail in group 1
        make_trainer(callbacks=[Boom(at=4)]).fit(module(tmp_path))
    pngs = sorted(p.name for p in (tmp_path / "runs" / "guarded").rglob("unit_*.png"))
    assert pngs == ["unit_00000.png", "unit_00001.png"]


def test_a_successful_fit_gives_the_model_back_too(tmp_path, make_trainer, fresh_user_model):
    before = user_state(fresh_user_model)
    make_trainer().fit(module(tmp_path, save_outputs=False))
    assert user_state(fresh_user_model) == before


@pytest.mark.parametrize("exception, expected", [
    (DivergenceError("Unit 3 diverged; lower the learning rate."), ("Unit 3 diverged; lower the learning rate.", 2, False)),
    (RuntimeError("boom\nmore"), ("RuntimeError: boom; its traceback is in that rank's output", 1, False)),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 2000000000 bytes."),
     ("The run ran out of CPU memory (it tried to allocate 2.0 GB); use a smaller batch_size, size or number of "
      "variants (or a device with more memory).", 2, True)),
    (Preempted(every_rank=False), ("Stopped by SIGTERM in the middle of a step", 75, False)),
    (KeyboardInterrupt(), ("Stopped by Ctrl-C in the middle of a step", 1, False)),
])
def test_a_failure_is_told_to_the_other_ranks_with_its_sentence_and_exit_code(exception, expected):
    assert failure_of(exception, world_size=2) == expected


def test_a_stop_every_rank_took_or_of_one_process_is_no_failure():
    assert failure_of(Preempted(every_rank=True), 2) is None and failure_of(Interrupted(), 2) is None
    assert failure_of(KeyboardInterrupt(), 1) is None and failure_of(Preempted(every_rank=False), 1) is None


class OutOfMemory(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 1:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 2000000000 bytes.")


def test_running_out_of_memory_in_a_fit_carries_one_sentence_and_leaves_nothing(tmp_path, make_trainer, fresh_user_model):
    with pytest.raises(RuntimeError) as failed:
        make_trainer(callbacks=[OutOfMemory()]).fit(module(tmp_path))
    assert explanation(failed.value) == ("The run ran out of CPU memory (it tried to allocate 2.0 GB); use a smaller "
                                         "batch_size, size or number of variants (or a device with more memory).", 2)
    assert not (tmp_path / "runs" / "guarded").exists()
