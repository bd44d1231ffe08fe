"""Memory per step is bounded by the batch, not the number of units; LargestBatch picks what fits."""

import pytest
import pytorch_lightning as pl

from lit_actmax import ActMaxModule, Pixel
from lit_actmax.callbacks import LargestBatch
from lit_actmax.core.batch_size import SavedTensorMeter, StepMemory, largest_batch_size, step_memory


@pytest.fixture
def tiny(tiny_module):
    """conftest's tiny module, with 2 steps per group."""
    return lambda **overrides: tiny_module(**{"steps_per_epoch": 2, **overrides})


class StepMemoryWatch(pl.Callback):
    """Bytes autograd keeps for backward in each training step, and the image parameters' size."""

    def __init__(self):
        self.saved, self.numel, self._meter = [], [], None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._meter = SavedTensorMeter().__enter__()
        self.numel.append(sum(p.numel() for p in pl_module.renderer.param.parameters()))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._meter.__exit__(None, None, None)
        self.saved.append(self._meter.bytes)


def measure(module: ActMaxModule, images: int) -> StepMemory:
    return step_memory(module.renderer, module.optimizer_factory, module.schedule.units, images)


def largest(module: ActMaxModule, **options: object) -> int:
    schedule = module.schedule
    return largest_batch_size(module.renderer, module.optimizer_factory, schedule.units, schedule.variants, **options)


def test_memory_per_step_is_bounded_by_the_batch_not_the_units(make_trainer, tiny):
    watches = {}
    for units in ("0-2", "0-11"):
        watch = StepMemoryWatch()
        module = tiny(units=units, batch_size=3, param=Pixel())
        make_trainer(callbacks=[watch]).fit(module)
        watches[units] = watch
    few, many = watches["0-2"], watches["0-11"]
    assert len(many.saved) == 4 * len(few.saved)  # 4 groups of 3 units, one after the other
    assert max(many.numel) == max(few.numel) == 3 * 3 * 32 * 32
    assert max(many.saved) == max(few.saved) > 0  # same peak of saved activations, whatever the unit count


def test_step_memory_is_linear_in_images(tiny):
    module = tiny()
    one, two, four, eight = (measure(module, n) for n in (1, 2, 4, 8))
    assert eight.activations - four.activations == 2 * (four.activations - two.activations) > 0
    # one image's forward is padded to two rows (Renderer): saved like two images' backbone activations, not half
    assert two.activations > one.activations > two.activations / 2
    # images, gradients and Adam moments grow per image (Adam's step counter is the only fixed part)
    assert four.params_and_state - two.params_and_state == 2 * (two.params_and_state - one.params_and_state) > 0
    assert module.renderer.items == () and module.renderer.param.count == 0  # the renderer's own state is restored


def test_largest_batch_fits_the_budget(tiny):
    module = tiny(units="0-15")
    two, four = measure(module, 2), measure(module, 4)  # the line starts at 2 images (one image's forward is padded)
    per_image = (four.total - two.total) // 2
    budget = two.total + int(4.5 * per_image)
    assert largest(module, budget_bytes=budget) == 6
    assert largest(module, budget_bytes=budget, max_batch_size=4) == 4
    with pytest.raises(ValueError, match="Not even 1 image"):
        largest(module, budget_bytes=per_image // 2)
    paired = tiny(units="0-15", variants=2, batch_size=2)
    assert largest(paired, budget_bytes=budget) % 2 == 0


def test_largest_batch_callback_sets_the_groups(make_trainer, tiny):
    module = tiny(units="0-9", batch_size=1)
    probe = tiny(units="0-9")
    two, four = measure(probe, 2), measure(probe, 4)
    budget_gb = (two.total + 2.5 * (four.total - two.total) / 2) / 2**30
    callback = LargestBatch(memory_gb=budget_gb)
    make_trainer(callbacks=[callback]).fit(module)
    assert callback.chosen == module.schedule.batch_size == module.hparams["batch_size"] == 4
    assert [len(g) for g in module.schedule.groups] == [4, 4, 2]
    with pytest.raises(ValueError, match="memory_fraction"):
        LargestBatch(memory_fraction=1.5)


def test_resume_keeps_the_checkpoint_batch_size(make_trainer, tmp_path, tiny):
    class StopAfter(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 3:
                trainer.save_checkpoint(tmp_path / "mid.ckpt")
                trainer.should_stop = True

    make_trainer(callbacks=[StopAfter()]).fit(tiny(units="0-5", batch_size=2))
    resumed = tiny(units="0-5", batch_size=4)
    with pytest.warns(UserWarning, match="checkpoint's batch_size=2"):
        make_trainer().fit(resumed, ckpt_path=str(tmp_path / "mid.ckpt"))
    assert resumed.schedule.batch_size == 2 and len(resumed.schedule.groups) == 3 and resumed.trainer.global_step == 6
