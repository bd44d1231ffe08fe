"""Dataset examples of the tiny backbone over an image folder on N CPU processes (``Trainer.predict``).

    python tests/dist_helpers/examples_run.py FOLDER OUT [--devices 2]

Lightning's launcher re-runs this script for the other ranks. Every rank saves ``OUT/rank<r>.pt`` with the synced
top-k and bottom-k ``(values (U, k), ids (U, k))`` and how many images it scored itself, and, from an exit
handler registered before the Trainer's (so it runs after them), whether the process group still existed at exit.
"""

from __future__ import annotations

import argparse
import atexit
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from lit_actmax import Channel
from lit_actmax.lightning.dataset_examples import find_examples
from lit_actmax.lightning.quiet import quiet_lightning

TINY = "lit_actmax.testing:tiny_backbone"


class CountImages(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.seen.extend(batch[1].tolist())


def main() -> None:
    quiet_lightning()
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("out")
    parser.add_argument("--devices", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    rank = {"global": 0}
    atexit.register(lambda: (out / f"exit_rank{rank['global']}.txt").write_text(str(dist.is_initialized())))
    count = CountImages()
    trainer = pl.Trainer(accelerator="cpu", devices=args.devices, strategy="unit_parallel", logger=False,
                         enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                         callbacks=[count])
    module, _ = find_examples(TINY, Channel("features.2"), list(range(16)), args.folder, k=5, least=True,
                              trainer=trainer, batch_size=3, size=32)
    rank["global"] = trainer.global_rank
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"result": module.result, "seen": count.seen, "world": trainer.world_size},
               out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main()
