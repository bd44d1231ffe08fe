"""callbacks/base.py: the callbacks that change images say so, and the run's fingerprint lists exactly those."""

import pytorch_lightning as pl
import torch

from lit_actmax.callbacks import (
    ActivationCurves,
    BestImage,
    GaussianBlur,
    ImageCallback,
    PerUnitGradNorm,
    RedirectReLU,
    ResetOptimizerState,
)
from lit_actmax.callbacks.base import ActMaxCallback
from lit_actmax.callbacks.run_checkpoint import image_callbacks


class Sharpen(ImageCallback):
    """A callback a user writes: a new kind of between-epoch image change."""

    def apply(self, images: torch.Tensor, pl_module: object) -> torch.Tensor:
        return images


def test_callbacks_that_change_images_declare_it_and_reach_the_fingerprint_in_order():
    mine = Sharpen()
    callbacks = [ActivationCurves(), GaussianBlur(sigma=1.0), pl.callbacks.LearningRateMonitor(), BestImage(),
                 RedirectReLU(), mine, ResetOptimizerState(), PerUnitGradNorm()]
    assert image_callbacks(callbacks) == [callbacks[1], callbacks[4], mine, callbacks[6], callbacks[7]]
    assert not ActMaxCallback.changes_images and Sharpen.changes_images
