"""The seed-method callbacks inside a real Trainer run on the tiny backbone: schedules, resizing, best image, GIF."""

import json

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from lit_actmax import ActMaxModule, Channel, ClassLogit
from lit_actmax.augment import Compose, Jitter
from lit_actmax.callbacks import BestImage, GaussianBlur, Gif, L2Decay, Resize
from lit_actmax.lightning.quiet import quiet_lightning
from lit_actmax.params import Pixel

TINY = "lit_actmax.testing:tiny_backbone"


class Recorder(pl.Callback):
    """Every candidate the optimizer stepped from: (step in group, images, step activations, parameter size)."""

    def __init__(self):
        self.seen = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.seen.append((pl_module.epoch_in_group * pl_module.schedule.steps_per_epoch + trainer.fit_loop.epoch_loop.batch_idx,
                          pl_module.renderer.param().detach().clone(), pl_module.step_activations.clone(),
                          tuple(pl_module.renderer.param.size)))


def fit(callbacks, tmp_path=None, **kw):
    quiet_lightning()
    settings = dict(backbone=TINY, objective=Channel("features.2"), units="0-1", size=16, batch_size=2,
                    steps_per_epoch=3, epochs=3, seed=1, param=Pixel(), transforms=Compose([]),
                    optimizer=lambda p: torch.optim.Adam(p, lr=0.1), save_outputs=tmp_path is not None,
                    out_dir=str(tmp_path), run_name="cb")
    settings.update(kw)
    module = ActMaxModule(**settings)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=callbacks)
    trainer.fit(module)
    return module, trainer


def test_blur_every_4_steps_counts_optimizer_steps():
    blur = GaussianBlur(sigma=1.0, every=4)
    fit([blur], units="0-3", steps_per_epoch=1, epochs=10)  # 2 groups of 10 steps: blurs after steps 0, 4, 8
    assert blur.applied == 6


def test_resize_grows_the_images_and_optimization_goes_on(tmp_path):
    recorder, resize = Recorder(), Resize(factor=2.0)
    module, trainer = fit([resize, recorder], tmp_path, units=[0], batch_size=1, steps_per_epoch=4, epochs=3, size=16)
    assert resize.sizes == [(32, 32), (64, 64)]  # not after the last epoch
    sizes = [s for _, _, _, s in recorder.seen]
    assert sizes == [(16, 16)] * 4 + [(32, 32)] * 4 + [(64, 64)] * 4
    activations = [float(a[0]) for _, _, a, _ in recorder.seen]
    assert activations[7] > activations[4] and activations[11] > activations[8]  # still climbing at each new size
    assert module.last_finished.images.shape[-2:] == (64, 64)
    record = json.loads(next((module.run_dir / "images").rglob("unit_00000.json")).read_text())
    assert record["size"] == [64, 64]
    # Adam restarted at each resize: its step count is that of the last size only
    state = trainer.optimizers[0].state[module.renderer.param.pixels]
    assert int(state["step"]) == 4 and state["exp_avg"].shape == (1, 3, 64, 64)


def test_best_image_returns_the_best_image_seen(tmp_path):
    recorder, best = Recorder(), BestImage()
    # the decay to the mean colour after the last epoch ruins the final image: the best is an earlier one
    module, _ = fit([recorder, L2Decay(rate=1.0, start=2), best], tmp_path, units="0-1", steps_per_epoch=3, epochs=3)
    final = module.last_finished
    for row, unit in enumerate([0, 1]):
        step, image, activation, _ = max(recorder.seen, key=lambda s: float(s[2][row]))
        kept = best.best[(unit, 0, 0)]
        assert kept["step"] == step < 9
        assert kept["activation"] == pytest.approx(float(activation[row]), abs=1e-6)
        torch.testing.assert_close(kept["image"], image[row].clamp(0, 1))
        torch.testing.assert_close(final.images[row], image[row].clamp(0, 1))  # the saved PNG is the best
        assert final.activations[row] == pytest.approx(float(activation[row]), abs=1e-6)
        record = final.extras[row]
        assert record["best_step"] == step and record["final_activation"] < record["best_activation"]
        assert (module.run_dir / final.files[row]["final"]).is_file()


def test_best_image_measures_clean_images_under_augmentation():
    best = BestImage()
    module, _ = fit([best], units=[0], batch_size=1, transforms=Compose([Jitter(2)]), steps_per_epoch=2, epochs=2)
    kept = best.best[(0, 0, 0)]
    with torch.no_grad():
        again = module.renderer.objective.activation(module.renderer.render(kept["image"].unsqueeze(0), None))
    assert float(again[0]) == pytest.approx(kept["activation"], abs=1e-5)


def test_gif_has_a_frame_every_k_steps_plus_the_final_image(tmp_path):
    gif = Gif(every=2, duration=50)
    module, _ = fit([Resize(factor=1.5, every=1), gif], tmp_path, objective=ClassLogit(), units="0-2", batch_size=2,
                    steps_per_epoch=3, epochs=3)
    records = {r["unit"]: r for r in (json.loads(p.read_text()) for p in (module.run_dir / "images").rglob("*.json"))}
    assert sorted(records) == [0, 1, 2]
    for unit, record in records.items():
        path = module.run_dir / record["files"]["gif"]
        with Image.open(path) as picture:
            assert picture.format == "GIF" and picture.size == (36, 36)  # frames scaled to the final 16 -> 24 -> 36
            assert picture.n_frames == 6 == record["gif_frames"]  # steps 0, 2, 4, 6, 8 + the finished image
            assert picture.info["duration"] == 50
        assert len(gif.frames[(unit, 0, 0)]) == 6
