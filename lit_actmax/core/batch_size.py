"""Pick the largest batch of units that fits memory, and measure the memory of one optimization step.

Memory of a step grows linearly with the number of images ``n`` it optimizes: ``bytes(n) = fixed + n * per_image``
(activations kept for backward, image parameters, their gradients and optimizer state; the frozen backbone's
weights are fixed). :func:`step_memory` measures one real step (forward, backward, optimizer step) of a
:class:`~lit_actmax.core.renderer.Renderer`:

- on CUDA: the peak of ``torch.cuda.max_memory_allocated`` above what was allocated before the step;
- on the CPU: the bytes of the tensors autograd saves for backward (unique storages) plus the image parameters,
  their gradients and the optimizer state -- the memory that scales with ``n``. (The CPU allocator has no peak
  counter; this is the part that grows with the batch, exact and deterministic.)

:func:`largest_batch_size` measures two batch sizes (of at least ``MIN_BACKBONE_ROWS`` images: the renderer pads a
one-image forward to two rows, so one image costs about what two do), fits the line and returns the largest ``n`` whose step fits
``memory_fraction`` of the free memory (on CUDA it then runs that step, and steps down on out-of-memory).
:class:`~lit_actmax.callbacks.LargestBatch` does this as a callback before the module splits its units into groups.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from ..errors import ConfigError
from .optim import OptimizerFactory
from .renderer import MIN_BACKBONE_ROWS, Renderer
from .schedule import UnitImage

__all__ = ["SavedTensorMeter", "StepMemory", "step_memory", "free_memory", "largest_batch_size"]


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


def _keys(units: Sequence[int] | Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Unit ids, or ``(target, unit)`` pairs of a run of units across layers -> ``(target, unit)`` pairs."""
    return [(int(u[0]), int(u[1])) if isinstance(u, (tuple, list)) else (0, int(u)) for u in units]


def step_memory(renderer: Renderer, optimizer_factory: OptimizerFactory, units: Sequence[int] | Sequence[tuple[int, int]], images: int,
                precision: Any = None) -> StepMemory:
    """Run one real step of ``renderer`` on ``images`` images (of ``units``, cycled) and measure its memory.

    The renderer's current group (its images, their gradients and shape) is restored afterwards. ``precision`` is
    a Lightning precision plugin whose ``train_step_context`` wraps the forward (e.g. bf16 autocast).
    """
    param = renderer.param
    device = renderer.device
    saved = (renderer.items, [p.data for p in param.parameters()], param.size, param.count)
    cuda = device.type == "cuda"
    try:
        renderer.start([UnitImage(u, 0, True, t) for t, u in itertools.islice(itertools.cycle(_keys(units)), images)])
        params = list(param.parameters())
        optimizer = optimizer_factory(params)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            baseline = torch.cuda.memory_allocated(device)
        context = precision.train_step_context() if precision is not None else contextlib.nullcontext()
        with SavedTensorMeter() as meter, context:
            loss = renderer.loss(0).loss
        loss.backward()
        optimizer.step()
        state = _tensor_bytes(v for s in optimizer.state.values() for v in s.values())
        own = _tensor_bytes(iter(params)) + _tensor_bytes(p.grad for p in params)
        peak = (torch.cuda.max_memory_allocated(device) - baseline) if cuda else None
        del loss, optimizer
        return StepMemory(images, meter.bytes, own + state, peak)
    finally:
        renderer.items = saved[0]
        for p, data in zip(param.parameters(), saved[1]):
            p.data, p.grad = data, None
        param.size, param.count = saved[2], saved[3]


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
    renderer: Renderer,
    optimizer_factory: OptimizerFactory,
    units: Sequence[int] | Sequence[tuple[int, int]],
    variants: int = 1,
    budget_bytes: int | None = None,
    memory_fraction: float = 0.8,
    max_batch_size: int = 1024,
    precision: Any = None,
) -> int:
    """The largest number of images per step that fits ``budget_bytes`` (default: ``memory_fraction`` of free memory).

    A multiple of ``variants`` (a unit's variants share a batch), at least ``variants``. Raises
    :class:`ConfigError` if not even one unit's images fit.
    """
    if not 0 < memory_fraction <= 1:
        raise ConfigError(f"memory_fraction must be in (0, 1], got {memory_fraction}.")
    device = renderer.device
    budget = int(budget_bytes if budget_bytes is not None else free_memory(device) * memory_fraction)
    step = int(variants)

    def measure(n: int) -> StepMemory:
        return step_memory(renderer, optimizer_factory, units, n, precision)

    base = step * math.ceil(MIN_BACKBONE_ROWS / step)  # a forward of fewer rows is padded (Renderer): off the line
    small, large = measure(base), measure(2 * base)
    per_image = max(1, (large.total - small.total) / base)
    fixed = max(0.0, small.total - per_image * base)
    n = int((budget - fixed) // per_image) // step * step
    n = min(n, max(step, max_batch_size // step * step))
    if n < step:
        raise ConfigError(
            f"Not even {step} image(s) fit in {budget / 2**20:.0f} MiB ({per_image / 2**20:.1f} MiB per image); "
            "reduce `size` or free memory."
        )
    if device.type == "cuda":  # confirm with a real step; temporaries can exceed the linear estimate
        while n > step:
            try:
                if measure(n).total <= budget:
                    break
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
            n = max(step, int(n * 0.8) // step * step)
    return n
