"""Writes ``checkpoint_before_the_move.ckpt``: a checkpoint of lit_actmax as it was before the package was split into
subpackages (commit d0f6fe7, flat modules such as ``lit_actmax.optim`` and ``lit_actmax.objectives``), for
``tests/run/test_checkpoint_state.py::test_a_checkpoint_from_before_the_move_resumes``. Kept to show how it was made;
run it with that commit's code on the path::

    git worktree add /tmp/before d0f6fe7
    PYTHONPATH=/tmp/before python tests/data/make_checkpoint_before_the_move.py tests/data

The run: 6 units of the tiny test backbone's ``features.2`` at 32 px in groups of 4, 2 epochs of 2 steps each, the
library defaults for image, transforms and optimizer (the fingerprint names ``lit_actmax.optim.default_optimizer``),
an objective with a total-variation term (a ``Sum``), a between-epoch blur; stopped after step 3 (inside group 0).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel, TotalVariation
from lit_actmax.callbacks import GaussianBlur

SETTINGS = dict(backbone="lit_actmax.testing:tiny_backbone", units="0-5", size=32, batch_size=4, steps_per_epoch=2,
                epochs=2, seed=3, save_outputs=False)


def main(folder: str) -> None:
    out = Path(folder)
    module = ActMaxModule(objective=Channel("features.2") - 0.01 * TotalVariation(), **SETTINGS)
    checkpoints = out / "tmp_checkpoints"
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, max_steps=3,
                         callbacks=[GaussianBlur(sigma=0.5, every=1),
                                    pl.callbacks.ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=1,
                                                                 save_top_k=-1, filename="{step}")])
    trainer.fit(module)
    shutil.copyfile(checkpoints / "step=3.ckpt", out / "checkpoint_before_the_move.ckpt")
    shutil.rmtree(checkpoints)
    saved = torch.load(out / "checkpoint_before_the_move.ckpt", weights_only=False)
    print(saved["actmax"]["fingerprint"])


if __name__ == "__main__":
    main(sys.argv[1])
