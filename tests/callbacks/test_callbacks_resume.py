"""A run with the seed-method callbacks, interrupted after a checkpoint and resumed from it, ends exactly as the
uninterrupted run: same images, same best images, same GIF frames (Trainer + ModelCheckpoint + ckpt_path)."""

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import Compose
from lit_actmax.callbacks import (
    BestImage,
    Clamp,
    ContributionCrop,
    GaussianBlur,
    Gif,
    KeepImages,
    L2Decay,
    NormCrop,
    RandomAffineBetweenEpochs,
    ResetOptimizerState,
    Resize,
)
from lit_actmax.lightning.quiet import quiet_lightning
from lit_actmax.params import Pixel

TINY = "lit_actmax.testing:tiny_backbone"


class Killed(Exception):
    pass


class KillAt(pl.Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise Killed()


def callbacks():
    return [RandomAffineBetweenEpochs(shift=1, degrees=3, scale=0.05), GaussianBlur(sigma=0.8, every=2), Resize(factor=1.25),
            L2Decay(rate=0.05), NormCrop(percentile=10), ContributionCrop(percentile=10), Clamp(),
            ResetOptimizerState(every=2), BestImage(), Gif(every=2), KeepImages()]


def run(tmp_path, name, kill_at=None, resume=None):
    """2 units, 1 per group; each group 3 epochs of 2 Adam steps: 12 steps, a checkpoint after every step."""
    quiet_lightning()
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-1", size=16, batch_size=1,
                          steps_per_epoch=2, epochs=3, seed=5, param=Pixel(activation="none", mean=0.5, sd=0.1),
                          transforms=Compose([]), optimizer=lambda p: torch.optim.Adam(p, lr=0.05),
                          out_dir=str(tmp_path / "runs"), run_name=name)
    cbs = callbacks()
    extra = [pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_train_steps=1, save_top_k=-1,
                                          filename="{step}")] if kill_at is not None or resume else []
    if kill_at is not None:
        extra.append(KillAt(kill_at))
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=bool(extra), callbacks=cbs + extra, default_root_dir=str(tmp_path))
    if kill_at is not None:
        with pytest.raises(Killed):
            trainer.fit(module)
        return None
    trainer.fit(module, ckpt_path=resume)
    return cbs


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return run(tmp_path_factory.mktemp("reference"), "reference")


# 3: in the middle of epoch 1; 4: after epoch 1's last batch, before its end hooks (Lightning skips them on
# resume: lit_actmax.lightning.epoch_replay replays them, and the callbacks' state says whether they already acted); 6: the
# group boundary (group 0 finished, its best image and GIF written by the resumed run).
@pytest.mark.parametrize("kill_at", [3, 4, 6])
def test_resumed_run_equals_uninterrupted_run(reference, tmp_path, kill_at):
    run(tmp_path, "interrupted", kill_at=kill_at)
    resumed = run(tmp_path, "interrupted", resume=str(tmp_path / "ckpt" / f"step={kill_at}.ckpt"))
    ref_finished, res_finished = reference[-1], resumed[-1]
    assert sorted(res_finished.unit_images) == [0, 1] or kill_at == 6 and sorted(res_finished.unit_images) == [1]
    for unit, image in res_finished.unit_images.items():
        assert image.shape[-2:] == (25, 25)  # 16 -> 20 -> 25, not after the last epoch
        assert torch.equal(image, ref_finished.unit_images[unit]), unit
    ref_best, res_best = reference[-3], resumed[-3]
    ref_gif, res_gif = reference[-2], resumed[-2]
    for key in res_best.best:
        assert res_best.best[key]["step"] == ref_best.best[key]["step"]
        assert torch.equal(res_best.best[key]["image"], ref_best.best[key]["image"])
        assert len(res_gif.frames[key]) == len(ref_gif.frames[key]) == 4  # steps 0, 2, 4 + the final image
        assert all(torch.equal(a, b) for a, b in zip(res_gif.frames[key], ref_gif.frames[key]))
    assert resumed[2].sizes[-1] == (25, 25) and resumed[2].applied == reference[2].applied
