"""Two gloo processes each update the metrics with half of a fixed data set; each saves what it computed.

    python tests/dist_helpers/metrics_sync.py OUT [--world 2]

Rank ``r`` takes the units ``r::world`` of :func:`data` (a unit's two images stay together) and writes
``OUT/rank<r>.pt`` with the computed (synced) metrics and the rows ``gather_rows`` returned. A test computes the
expected values from :func:`data` in one process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lit_actmax.lightning.gather import gather_rows  # noqa: E402
from lit_actmax.lightning.metrics import BestActivation, Transferability, VariantDiversity  # noqa: E402

NUM_UNITS = 7


def data() -> dict[str, torch.Tensor]:
    """12 images of 6 units (2 variants each, adjacent rows): activations, images, features, logits (10 classes)."""
    g = torch.Generator().manual_seed(0)
    units = torch.tensor([0, 0, 3, 3, 5, 5, 6, 6, 1, 1, 2, 2])
    base = torch.rand(12, 3, 16, 16, generator=g)
    images = (0.7 * base + 0.3 * base[torch.arange(12) ^ 1]).clamp(0, 1)  # a unit's variants look alike
    logits = torch.randn(12, 10, generator=g)
    logits[[0, 4, 9], units[[0, 4, 9]]] += 10.0  # some hits for top-1
    return {"units": units, "activations": torch.randn(12, generator=g), "images": images,
            "features": torch.randn(12, 5, generator=g), "logits": logits}


class ProcessGroupStrategy:
    """What ``gather_rows`` needs of a Lightning strategy: ``world_size`` and a stacking ``all_gather``."""

    def __init__(self, world: int) -> None:
        self.world_size = world

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        out = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(out, tensor.contiguous())
        return torch.stack(out)


def run(rank: int, world: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out}/store", rank=rank, world_size=world)
    d = data()
    rows = torch.arange(12).view(6, 2)[rank::world].flatten()
    best, diversity, transfer = BestActivation(NUM_UNITS), VariantDiversity(NUM_UNITS), Transferability()
    for pair in rows.split(2):  # one update per unit, as the callback does per finished group
        best.update(d["units"][pair], d["activations"][pair])
        diversity.update(d["units"][pair], d["images"][pair], d["features"][pair])
        transfer.update(d["logits"][pair], d["units"][pair])
    mine = torch.arange(rank * 10, rank * 10 + 3 + rank)  # ranks hold different row counts: 3 and 4
    flags = torch.tensor([True, False, True, rank == 1][: 3 + rank])
    gathered, gathered_flags = gather_rows(ProcessGroupStrategy(world), mine, flags)
    torch.save({"best": best.compute(), "diversity": diversity.compute(), "transfer": transfer.compute(),
                "gathered": gathered, "gathered_flags": gathered_flags}, Path(out) / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--world", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    mp.spawn(run, args=(args.world, args.out), nprocs=args.world, join=True)


if __name__ == "__main__":
    main()
