"""Pick the largest batch of units that fits memory, and measure the memory of one optimization step.

Memory of a step grows linearly with the number of images ``n`` it optimizes: ``bytes(n) = fixed + n * per_image``
(activations kept for backward, image parameters, their gradients and optimizer state; the frozen backbone's
weights are fixed). :func:`step_memory` measures one real step (forward, backward, optimizer step) of an
:class:`~lit_actmax.module.ActMaxModule`:

- on CUDA: the peak of ``torch.cuda.max_memory_allocated`` above what was allocated before the step;
- on the CPU: the bytes of the tensors autograd saves for backward (unique storages) plus the image parameters,
  their gradients and the optimizer state -- the memory that scales with ``n``. (The CPU allocator has no peak
  counter; this is the part that grows with the batch, exact and deterministic.)

:func:`largest_batch_size` measures two batch sizes, fits the line and returns the largest ``n`` whose step fits
``memory_fraction`` of the free memory (on CUDA it then runs that step, and steps down on out-of-memory).
:class:`LargestBatch` does this as a callback before the module splits its units into groups; with several
processes every rank takes the smallest choice, so ranks stay in step.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info

from .seeding import STREAM_INIT, unit_generators

if TYPE_CHECKING:
    from .module import ActMaxModule

__all__ = ["SavedTensorMeter", "StepMemory", "step_memory", "free_memory", "largest_batch_size", "LargestBatch"]


class SavedTensorMeter:
    """Context manager: bytes of the distinct storages autograd saves for backward inside it (``.bytes``)."""

    def __init__(self) -> None:
        self._storages: dict[tuple[str, int], int] = {}
        self._context = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        self._storages[(str(tensor.device), storage.data_ptr())] = storage.nbytes()
        return tensor

    @property
    def bytes(self) -> int:
        return sum(self._storages.values())

    def __enter__(self) -> "SavedTensorMeter":
        self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)


@dataclass
class StepMemory:
    """Bytes of one optimization step of ``images`` images: ``total`` = ``activations`` + ``params_and_state``."""

    images: int
    activations: int
    params_and_state: int
    peak: int | None = None  # CUDA: measured peak above the baseline (includes temporaries)

    @property
    def total(self) -> int:
        return self.peak if self.peak is not None else self.activations + self.params_and_state


def _tensor_bytes(tensors: Iterator[Any]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def step_memory(module: "ActMaxModule", images: int, precision: Any = None) -> StepMemory:
    """Run one real step of ``module`` on ``images`` images (its first units, cycled) and measure its memory.

    The module's current group, image parameters and gradients are restored afterwards. ``precision`` is a
    Lightning precision plugin whose ``train_step_context`` wraps the forward (e.g. bf16 autocast).
    """
    device = next(module.param.parameters()).device
    saved = (module.groups, module.group_index, [p.data for p in module.param.parameters()],
             module.param.size, module.param.count)
    units = list(itertools.islice(itertools.cycle(module.units_all), images))
    items = [(u, 0, True) for u in units]
    module.groups, module.group_index = [items], 0
    cuda = device.type == "cuda"
    try:
        module.param.reset(unit_generators(module.seed, units, [0] * images, STREAM_INIT), module.size)
        params = list(module.param.parameters())
        optimizer = module.optimizer_factory(params)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            baseline = torch.cuda.memory_allocated(device)
        context = precision.train_step_context() if precision is not None else contextlib.nullcontext()
        with SavedTensorMeter() as meter, context:
            loss = -module.total_objective(module.render_batch(module.param(), 0)).sum()
        loss.backward()
        optimizer.step()
        state = _tensor_bytes(v for s in optimizer.state.values() for v in s.values())
        own = _tensor_bytes(iter(params)) + _tensor_bytes(p.grad for p in params)
        peak = (torch.cuda.max_memory_allocated(device) - baseline) if cuda else None
        del loss, optimizer
        return StepMemory(images, meter.bytes, own + state, peak)
    finally:
        module.groups, module.group_index = saved[0], saved[1]
        for p, data in zip(module.param.parameters(), saved[2]):
            p.data, p.grad = data, None
        module.param.size, module.param.count = saved[3], saved[4]


def free_memory(device: torch.device) -> int:
    """Bytes free for this process: CUDA ``mem_get_info`` on a GPU, ``MemAvailable`` of ``/proc/meminfo`` on the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def largest_batch_size(
    module: "ActMaxModule",
    budget_bytes: int | None = None,
    memory_fraction: float = 0.8,
    max_batch_size: int = 1024,
    precision: Any = None,
) -> int:
    """The largest number of images per step that fits ``budget_bytes`` (default: ``memory_fraction`` of free memory).

    A multiple of ``module.variants`` (a unit's variants share a batch), at least ``variants``. Raises
    ``ValueError`` if not even one unit's images fit.
    """
    if not 0 < memory_fraction <= 1:
        raise ValueError(f"memory_fraction must be in (0, 1], got {memory_fraction}.")
    device = next(module.param.parameters()).device
    budget = int(budget_bytes if budget_bytes is not None else free_memory(device) * memory_fraction)
    step = module.variants
    small, large = step_memory(module, step, precision), step_memory(module, 2 * step, precision)
    per_image = max(1, (large.total - small.total) / step)
    fixed = max(0.0, small.total - per_image * step)
    n = int((budget - fixed) // per_image) // step * step
    n = min(n, max(step, max_batch_size // step * step))
    if n < step:
        raise ValueError(
            f"Not even {step} image(s) fit in {budget / 2**20:.0f} MiB ({per_image / 2**20:.1f} MiB per image); "
            "reduce `size` or free memory."
        )
    if device.type == "cuda":  # confirm with a real step; temporaries can exceed the linear estimate
        while n > step:
            try:
                if step_memory(module, n, precision).total <= budget:
                    break
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
            n = max(step, int(n * 0.8) // step * step)
    return n


class LargestBatch(pl.Callback):
    """Set the module's ``batch_size`` to the largest that fits memory, before it splits units into groups.

    Args:
        memory_fraction: share of the free memory a step may use (the rest is headroom).
        max_batch_size: upper bound (no point in a batch larger than a rank's units).
        memory_gb: budget in GiB instead of the measured free memory (e.g. for a shared node).

    With several processes every rank measures, then all take the smallest choice. On resume the module keeps
    the checkpoint's batch size, whatever this picks.
    """

    def __init__(self, memory_fraction: float = 0.8, max_batch_size: int = 1024, memory_gb: float | None = None) -> None:
        if not 0 < memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1], got {memory_fraction}.")
        self.memory_fraction, self.max_batch_size, self.memory_gb = memory_fraction, int(max_batch_size), memory_gb
        self.chosen: int | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        device = trainer.strategy.root_device
        pl_module.to(device)
        units_per_rank = math.ceil(len(pl_module.units_all) / trainer.world_size) * pl_module.variants
        budget = int(self.memory_gb * 2**30) if self.memory_gb is not None else None
        n = largest_batch_size(pl_module, budget, self.memory_fraction, min(self.max_batch_size, units_per_rank),
                               trainer.strategy.precision_plugin)
        n = int(trainer.strategy.all_gather(torch.tensor(n, device=device)).min())
        self.chosen = pl_module.batch_size = n
        pl_module.hparams["batch_size"] = n
        rank_zero_info(f"LargestBatch: batch_size={n} images per step on {device} (memory_fraction={self.memory_fraction}).")
