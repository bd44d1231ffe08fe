"""Gather rows of different counts from every rank (Lightning's ``all_gather`` needs equal shapes).

Every rank must call these functions (they are collectives); the result is the same on every rank.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError

__all__ = ["gather_rows", "world_size_of"]


def world_size_of(strategy: Any) -> int:
    """The number of processes of a Lightning strategy (1 for ``None``)."""
    return int(getattr(strategy, "world_size", 1) or 1) if strategy is not None else 1


def _gather(strategy: Any, tensor: torch.Tensor) -> torch.Tensor:
    """(...) on every rank -> (world, ...), in rank order."""
    gathered = strategy.all_gather(tensor)
    return gathered.reshape(world_size_of(strategy), *tensor.shape)  # one device: no world dim, so reshape


def gather_rows(strategy: Any, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Concatenate ``tensors`` (each (n_r, ...), the same n_r per rank) over all ranks, in rank order.

    Ranks may hold different ``n_r`` (also 0): rows are padded to the largest count for the collective and the
    padding is dropped afterwards. All other dimensions must agree across ranks. Returns (sum n_r, ...) each.
    """
    if not tensors:
        raise ConfigError("gather_rows needs at least one tensor.")
    counts = {t.shape[0] for t in tensors}
    if len(counts) != 1:
        raise ConfigError(f"gather_rows needs tensors with the same number of rows, got {sorted(counts)}.")
    if world_size_of(strategy) == 1:
        return tuple(tensors)
    n = tensors[0].shape[0]
    device = tensors[0].device
    sizes = _gather(strategy, torch.tensor([n], device=device, dtype=torch.long)).view(-1).tolist()
    most = max(sizes)
    out = []
    for tensor in tensors:
        wire = torch.uint8 if tensor.dtype == torch.bool else tensor.dtype  # not every backend gathers bool
        padded = torch.zeros((most, *tensor.shape[1:]), dtype=wire, device=tensor.device)
        padded[:n] = tensor
        every = _gather(strategy, padded)
        out.append(torch.cat([every[r, :size] for r, size in enumerate(sizes)]).to(tensor.dtype))
    return tuple(out)
