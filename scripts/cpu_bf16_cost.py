"""What bf16 autocast costs on this CPU: a lite0 forward+backward in fp32 and under bf16 autocast, medians.

    python scripts/cpu_bf16_cost.py                      # this CPU's own kernels
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python scripts/cpu_bf16_cost.py
                                                         # a CPU without native bf16, simulated on one with it

The README's precision paragraph quotes both lines from a 2-core AMX Xeon (0.81x native, 5.2x forced to AVX2).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lit_actmax.backbones import load_backbone
from lit_actmax.core.cpu_bf16 import native_bf16


def step_ms(model: torch.nn.Module, images: torch.Tensor, bf16: bool, repeats: int) -> float:
    """Median milliseconds of one forward+backward of ``images`` (B, 3, H, W) in [0, 1], after two warm-up steps."""
    times = []
    for index in range(repeats + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(images)
        out.float().sum().backward()
        if index >= 2:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_backbone("lite0").model
    images = torch.rand(args.batch, 3, args.size, args.size, requires_grad=True)
    fp32, bf16 = (step_ms(model, images, flag, args.repeats) for flag in (False, True))
    print(f"native bf16: {native_bf16()}; CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"lite0 batch {args.batch} at {args.size} px, {args.threads} threads")
    print(f"fp32 {fp32:.1f} ms, bf16 autocast {bf16:.1f} ms: {bf16 / fp32:.2f}x")


if __name__ == "__main__":
    main()
