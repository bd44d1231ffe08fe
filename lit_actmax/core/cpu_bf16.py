"""Whether this CPU computes bfloat16 natively, and the one-line warning when a bf16 precision is chosen on one that
does not.

Without AVX512-BF16 or AMX, torch emulates bf16 on the CPU by converting every operand, and a ``bf16-mixed`` run is
several times slower than fp32 (the issue that asked for this warning reported 10-20x on lite0; measure it on your
machine with ``lit-actmax fit --config quickstart --trainer.precision bf16-mixed --trainer.max_steps 20`` against
``--trainer.precision 32``). Plain torch, no Lightning.
"""

from __future__ import annotations

import torch

__all__ = ["native_bf16", "slow_bf16_warning"]


def native_bf16() -> bool | None:
    """True when the CPU has AVX512-BF16 or AMX, False when it has neither, None when this torch cannot tell."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if not all(callable(probe) for probe in probes):
        return None
    return any(bool(probe()) for probe in probes)


def slow_bf16_warning(precision: str, device_type: str, native: bool | None = None) -> str | None:
    """The warning for ``precision`` (Lightning's, e.g. ``"bf16-mixed"``) on ``device_type``, or None when it fits."""
    native = native_bf16() if native is None else native
    if device_type != "cpu" or "bf16" not in str(precision) or native is not False:
        return None
    return (f"precision {precision} on a CPU without native bf16 (no AVX512-BF16 or AMX) is emulated and runs several "
            "times slower than fp32: use --trainer.precision 32 on this machine, bf16 on GPUs or CPUs that have it.")
