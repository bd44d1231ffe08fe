"""Checkpoints of unit-parallel runs: one file holding every rank's own shard, each restored to its rank.

Under a multi-process run every rank optimizes different images, has its own optimizer state (Adam moments of
its images) and its own callback state (e.g. the best image seen per unit). Lightning writes a checkpoint from
global rank 0 only, so the ranks' checkpoint dicts are gathered into that one file::

    {<rank 0's checkpoint keys, unchanged>,
     "unit_parallel": {"format": 1, "world_size": W, "shards": [<rank 1's checkpoint>, ..., <rank W-1's>]}}

Rank 0's dict stays at the top level, so tools that read a plain Lightning checkpoint still see a valid one.
On resume, rank ``r`` gets back exactly the dict it dumped. A checkpoint only resumes with the world size it
was written with: the units are split across ranks, so a different world size would give ranks other units.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ShardError
from .package import apply_to_collection

__all__ = [
    "SHARDS_KEY",
    "ShardError",
    "to_cpu",
    "merge_shards",
    "select_shard",
    "checkpoint_world_size",
    "check_world_size",
]

SHARDS_KEY = "unit_parallel"
FORMAT = 1




def to_cpu(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``checkpoint`` with every tensor detached on the CPU (safe to pickle across ranks and nodes)."""
    return apply_to_collection(checkpoint, torch.Tensor, lambda t: t.detach().cpu())


def merge_shards(shards: list[dict[str, Any]]) -> dict[str, Any]:
    """Every rank's checkpoint dict (index = global rank) -> the one dict that rank 0 writes."""
    if not shards:
        raise ShardError("merge_shards needs at least rank 0's checkpoint.")
    merged = dict(shards[0])
    merged[SHARDS_KEY] = {"format": FORMAT, "world_size": len(shards), "shards": list(shards[1:])}
    return merged


def checkpoint_world_size(checkpoint: dict[str, Any]) -> int:
    """How many processes wrote ``checkpoint`` (1 for a plain single-process checkpoint)."""
    meta = checkpoint.get(SHARDS_KEY)
    return int(meta["world_size"]) if isinstance(meta, dict) else 1


def check_world_size(checkpoint: dict[str, Any], world_size: int) -> None:
    """Raise :class:`ShardError` unless ``checkpoint`` was written by ``world_size`` processes."""
    saved = checkpoint_world_size(checkpoint)
    if saved != world_size:
        raise ShardError(
            f"This checkpoint was written by {saved} process(es) but this run has {world_size}: resume with "
            f"devices x num_nodes = {saved} and strategy='unit_parallel' (each rank restores its own units)."
        )


def select_shard(checkpoint: dict[str, Any], rank: int, world_size: int) -> dict[str, Any]:
    """The checkpoint dict that global ``rank`` of a ``world_size``-process run dumped."""
    check_world_size(checkpoint, world_size)
    meta = checkpoint.get(SHARDS_KEY)
    if meta is not None and int(meta.get("format", 0)) != FORMAT:
        raise ShardError(f"Unknown unit-parallel checkpoint format {meta.get('format')!r}; use the lit_actmax that wrote it.")
    if rank == 0 or meta is None:
        own = {k: v for k, v in checkpoint.items() if k != SHARDS_KEY}
    else:
        own = dict(meta["shards"][rank - 1])
    own[SHARDS_KEY] = {"format": FORMAT, "world_size": world_size, "shards": []}  # keeps the world-size check
    return own
