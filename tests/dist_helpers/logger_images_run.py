"""Render 5 units of the tiny backbone on 2 CPU processes with LoggerImages logging to TensorBoard.

    python tests/dist_helpers/logger_images_run.py OUT

Lightning's launcher re-runs this script for rank 1. The TensorBoard logs go to ``OUT/tb``; every rank writes
``OUT/rank<r>.json`` with its run directory, its units and what LoggerImages logged on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from lit_actmax import ActMaxModule, Channel, Compose, Pixel
from lit_actmax.callbacks.activation_curves import ActivationCurves
from lit_actmax.callbacks.logger_images import LoggerImages
from lit_actmax.cli import quiet_expected_warnings


def main(out: Path) -> None:
    quiet_expected_warnings()
    torch.set_num_threads(1)
    module = ActMaxModule(
        backbone="lit_actmax.testing:tiny_backbone", objective=Channel("features.2"), units="0-4", size=32,
        batch_size=2, steps_per_epoch=2, epochs=1, param=Pixel(), transforms=Compose([]), seed=3,
        optimizer=lambda p: torch.optim.Adam(p, lr=0.05), out_dir=str(out / "runs"), run_name="dist",
    )
    callback = LoggerImages(every_n_epochs=1, size=32)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="unit_parallel", enable_checkpointing=False,
        logger=TensorBoardLogger(str(out / "tb"), name="", version="v"), callbacks=[callback, ActivationCurves()],
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, use_distributed_sampler=False,
    )
    trainer.fit(module)
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps({
        "run_dir": str(module.run_dir), "units": module.my_units, "logged": callback.logged,
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
