"""Counter-based randomness per unit: every random draw depends only on (seed, unit, variant, stream, step).

No generator state is carried between steps, so a unit's image does not depend on the device count, the batch
it shares, or a resume from a checkpoint.
"""

from __future__ import annotations

import torch

__all__ = ["unit_seed", "unit_generator", "unit_generators", "STREAM_INIT", "STREAM_AUGMENT", "STREAM_AFFINE"]

STREAM_INIT = 1
STREAM_AUGMENT = 2
STREAM_AFFINE = 3  # RandomAffineBetweenEpochs callback; step = the epoch within the unit's group

_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def unit_seed(seed: int, unit: int, variant: int = 0, stream: int = STREAM_INIT, step: int = 0) -> int:
    """A well-mixed 63-bit seed for one (seed, unit, variant, stream, step)."""
    x = 0
    for part in (seed, unit, variant, stream, step):
        x = _splitmix64(x ^ (int(part) & _MASK))
    return x & ((1 << 63) - 1)


def unit_generator(seed: int, unit: int, variant: int = 0, stream: int = STREAM_INIT, step: int = 0) -> torch.Generator:
    """A CPU generator seeded for one unit; draws are the same on every machine and device."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(unit_seed(seed, unit, variant, stream, step))
    return generator


def unit_generators(
    seed: int, units: list[int], variants: list[int], stream: int, step: int = 0
) -> list[torch.Generator]:
    """One generator per image of a batch."""
    return [unit_generator(seed, u, v, stream, step) for u, v in zip(units, variants)]
