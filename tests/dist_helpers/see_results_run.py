"""Render 5 classes (2 variants each) of the tiny backbone on 2 CPU processes with the result callbacks.

    python tests/dist_helpers/see_results_run.py OUT

Callbacks: LoggerImages (TensorBoard in ``OUT/tb``), ActivationCurves, QualityMetrics judged by the tiny backbone
built from another seed. Lightning's launcher re-runs this script for rank 1. Every rank saves ``OUT/rank<r>.pt``:
its run directory, units, what LoggerImages logged on it, the QualityMetrics results it computed, and the final
float images it finished ({(unit, variant): (3, H, W)}) for direct computations in the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from lit_actmax import ActMaxModule, ClassLogit, Compose, Pixel
from lit_actmax.callbacks import KeepImages
from lit_actmax.callbacks.activation_curves import ActivationCurves
from lit_actmax.callbacks.logger_images import LoggerImages
from lit_actmax.callbacks.quality_metrics import QualityMetrics
from lit_actmax.lightning.quiet import quiet_lightning
from lit_actmax.testing import tiny_backbone


def main(out: Path) -> None:
    quiet_lightning()
    torch.set_num_threads(1)
    module = ActMaxModule(
        backbone="lit_actmax.testing:tiny_backbone", objective=ClassLogit(), units="0-4", size=32, batch_size=4,
        variants=2, steps_per_epoch=2, epochs=1, param=Pixel(), transforms=Compose([]), seed=3,
        optimizer=lambda p: torch.optim.Adam(p, lr=0.05), out_dir=str(out / "runs"), run_name="dist",
    )
    logged, metrics, keep = LoggerImages(every_n_epochs=1, size=32), QualityMetrics(judge=tiny_backbone(seed=1)), KeepImages()
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="unit_parallel", enable_checkpointing=False,
        logger=TensorBoardLogger(str(out / "tb"), name="", version="v"),
        callbacks=[logged, ActivationCurves(), metrics, keep],
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, use_distributed_sampler=False,
    )
    trainer.fit(module)
    torch.save({"run_dir": str(module.run_dir), "units": list(module.schedule.my_units), "logged": logged.logged,
                "results": metrics.results, "images": keep.images}, out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
