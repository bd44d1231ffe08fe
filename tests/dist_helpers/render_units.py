"""Render units with the tiny backbone under ``Trainer(strategy="unit_parallel")`` and save what each rank saw.

Run as a script (Lightning's launcher re-runs it once per extra process)::

    python tests/dist_helpers/render_units.py OUT --devices 2 --units 0-7 [--ckpt-every 2 --kill-at 5] [--resume CKPT]
        [--default-ckpt-dir]

Each rank writes ``OUT/rank<r>.pt``: ``{"images": {unit: (3, H, W) float}, "strategy_model": type name,
"first_step_params": (N, ...) tensor of its images after the first step, "units": its units, "param_numel": [...]}``.
``--kill-at S`` ends every process abruptly (``os._exit``) before global step S, like a preempted job.
``--default-ckpt-dir`` gives the ``ModelCheckpoint`` no ``dirpath`` (checkpoints then go to the run folder's
``checkpoints/``) instead of ``OUT/ckpt``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel, Pixel, TotalVariation
from lit_actmax.augment import Compose, Jitter, RandomScale
from lit_actmax.callbacks import ActMaxCallback
from lit_actmax.lightning.quiet import quiet_lightning

TINY = "lit_actmax.testing:tiny_backbone"
KILLED = 3


class Record(ActMaxCallback):
    """Keep each finished unit's float image, the images after step 1, and the parameter size at every step."""

    def __init__(self, kill_at: int | None) -> None:
        self.images: dict[int, torch.Tensor] = {}
        self.first: torch.Tensor | None = None
        self.numel: list[int] = []
        self.kill_at = kill_at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.kill_at is not None and trainer.global_step == self.kill_at:
            sys.stdout.flush()
            os._exit(KILLED)
        self.numel.append(sum(p.numel() for p in pl_module.renderer.param.parameters()))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.first is None:
            self.first = pl_module.renderer.param().detach().cpu().clone()

    def on_units_finished(self, trainer, pl_module, finished) -> None:
        for unit, ok, image in zip(finished.units, finished.valid, finished.images):
            if ok:
                self.images[unit] = image.detach().cpu().clone()


class ShrinkAtEpochEnd(pl.Callback):
    """A between-epoch image change (like a blur callback): pull every image 10% towards grey."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        pl_module.renderer.param.set_image(0.5 + 0.9 * (pl_module.renderer.param().detach() - 0.5))


def main(argv: list[str] | None = None) -> None:
    quiet_lightning()
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--units", default="0-7")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per group")
    parser.add_argument("--param", choices=["fourier", "pixel"], default="fourier")
    parser.add_argument("--ckpt-every", type=int, default=0, help="save a checkpoint every N steps")
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--default-ckpt-dir", action="store_true", help="no dirpath: the run folder's checkpoints/")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    module = ActMaxModule(
        backbone=TINY, objective=Channel("features.2"), regularizers=[TotalVariation(0.05)], units=args.units,
        size=32, batch_size=args.batch_size, steps_per_epoch=args.steps, epochs=args.epochs, seed=7,
        param=Pixel() if args.param == "pixel" else None,
        transforms=Compose([Jitter(2), RandomScale((0.9, 1.1))]),
        optimizer=lambda p: torch.optim.Adam(p, lr=0.05), out_dir=str(out / "runs"), run_name="dist",
    )
    record = Record(args.kill_at)
    callbacks: list[pl.Callback] = [record, ShrinkAtEpochEnd()]
    if args.ckpt_every:
        callbacks.append(pl.callbacks.ModelCheckpoint(
            dirpath=None if args.default_ckpt_dir else str(out / "ckpt"), every_n_train_steps=args.ckpt_every,
            save_top_k=-1, save_last=True,
            filename="{step}",
        ))
    trainer = pl.Trainer(
        accelerator="cpu", devices=args.devices, strategy="unit_parallel", logger=False,
        enable_checkpointing=bool(args.ckpt_every), callbacks=callbacks, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, use_distributed_sampler=False,
        default_root_dir=str(out),
    )
    trainer.fit(module, ckpt_path=args.resume)
    torch.save({
        "images": record.images, "first_step_params": record.first, "param_numel": record.numel,
        "strategy_model": type(trainer.strategy.model).__name__, "units": list(module.schedule.my_units),
        "world_size": trainer.world_size, "run_dir": str(module.run_dir),
    }, out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main()
