"""Print, as JSON, the PNG digests of lite0 units 0-2 rendered in groups of 2 (unit 2 alone in the last group) and
of 3, at 2 threads: run in a fresh process so that the CPU instruction set can be chosen before torch starts::

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python tests/dist_helpers/lone_group_pngs.py --size 96 --steps 8

Output: ``{"capability": torch's CPU capability, "alone": {unit: sha1}, "together": {unit: sha1}}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json

import torch

from lit_actmax.backbones import load_backbone
from lit_actmax.core.numerics import Numerics
from lit_actmax.core.renderer import Renderer
from lit_actmax.core.schedule import UnitSchedule
from lit_actmax.image.io import encode_image


def render(batch_size: int, size: int, steps: int) -> dict[int, str]:
    """Units 0-2 in groups of ``batch_size``: unit -> SHA-1 of its PNG."""
    schedule = UnitSchedule((0, 1, 2), batch_size=batch_size, steps_per_epoch=steps)
    renderer = Renderer(load_backbone("lite0"), size=size, steps=schedule.steps_per_unit)
    renderer.attach()
    digests = {}
    try:
        with Numerics(threads=2).pinned():
            for group in schedule.groups:
                renderer.start(group)
                images, _ = renderer.optimize(schedule.steps_per_unit)
                digests.update((unit, hashlib.sha1(encode_image(image, "png")).hexdigest())
                               for unit, image in zip(renderer.unit_ids, images))
    finally:
        renderer.detach()
    return digests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(),
                      "alone": render(2, args.size, args.steps), "together": render(3, args.size, args.steps)}))


if __name__ == "__main__":
    main()
