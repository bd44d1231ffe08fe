"""Run ``configs/quickstart.yaml`` through the CLI's LightningCLI with extra arguments and save each rank's images.

    python tests/dist_helpers/quickstart_images.py OUT [--model.size 64 --trainer.devices 2 ...]

Lightning's launcher re-runs this script once per extra process, with the same arguments. Each rank writes
``OUT/rank<r>.pt``: ``{"images": {unit: (3, H, W) float in [0, 1]}, "world_size": int}`` (from ``KeepImages``);
nothing else is written (``model.save_outputs false``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

from lit_actmax.callbacks import KeepImages
from lit_actmax.cli.lightning_cli import ActMaxCLI
from lit_actmax.lightning.quiet import quiet_lightning

ROOT = Path(__file__).resolve().parents[2]


def main(out: str, extra: list[str]) -> None:
    quiet_lightning()
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")  # argv is this script's
    cli = ActMaxCLI(args=["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--model.save_outputs", "false",
                          "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=lit_actmax.callbacks.KeepImages",
                          *extra])
    keep = next(c for c in cli.trainer.callbacks if isinstance(c, KeepImages))
    torch.save({"images": keep.unit_images, "world_size": cli.trainer.world_size},
               Path(out) / f"rank{cli.trainer.global_rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
