"""Does a target live in an image's phase or in its amplitude spectrum? MACO can only change the phase, so this
decides where it can compete. Render the targets of ``scripts/quality.py`` part A with Fourier, then score each
image again after swapping half of it out (the phase/magnitude swap of Oppenheim and Lim, 1981):

- *own phase, MACO magnitude*: the MACO image nearest to it (``Maco.set_image``: its phase, the shipped spectrum
  at MACO's contrast, mean colour grey);
- *own phase, MACO shape*: the same, but the spectrum scaled to the image's own contrast and its mean colour kept,
  so only the spectrum's shape changes;
- *own magnitude, random phase*: its amplitude spectrum with uniformly random phases (mean colour kept).

A target that keeps its score under random phases but loses it under the natural spectrum lives in the amplitude
spectrum (a texture), which phase-only optimization cannot shape.

    python scripts/phase_swap.py --out docs/maco_sweep.md   # lite0, seeds 0 1 2, about 5 minutes on 2 CPU cores
    python scripts/phase_swap.py --quick                    # smoke run on the tiny test backbone
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from typing import Callable, Sequence

import quality  # scripts/quality.py, beside this script (on sys.path when run): render, judge
import torch

from lit_actmax import Channel, ClassLogit
from lit_actmax.objectives import Objective
from lit_actmax.params import Maco, decorrelated_to_rgb, hermitian_phase, rfft2_energy, squash
from lit_actmax.recipes import RECIPES, get_recipe

#: Column titles, in order, after the original image's score.
SWAPS = ["own phase, MACO magnitude", "own phase, MACO shape", "own magnitude, random phase"]


def image_of(spectrum: torch.Tensor, size: tuple[int, int], maco: Maco) -> torch.Tensor:
    """Inverse of :meth:`Maco.spectrum_of`: (N, 3, H, W) in [0, 1]."""
    return squash(decorrelated_to_rgb(torch.fft.irfft2(spectrum, s=size, norm="ortho"), maco.color), maco.activation)


def energy(spectrum: torch.Tensor, width: int) -> torch.Tensor:
    """(N, 3, h, w // 2 + 1) -> (N,) the images' sum of squares over pixels without the mean colour (DC) part."""
    return rfft2_energy(spectrum, width).sum(1) - spectrum[..., 0, 0].abs().pow(2).sum(1)


@torch.no_grad()
def swapped(images: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """The three swapped versions of (N, 3, H, W) images in [0, 1], in the order of :data:`SWAPS`."""
    maco = Maco()
    maco.set_image(images)
    nearest = maco()
    size = (images.shape[-2], images.shape[-1])
    own = maco.spectrum_of(images)
    phase = own.angle()
    scale = (energy(own, size[1]) / energy(maco.magnitude.unsqueeze(0), size[1])).sqrt().view(-1, 1, 1, 1)
    shape = torch.polar(maco.magnitude * scale, hermitian_phase(phase, size[1]))
    shape[..., 0, 0] = own[..., 0, 0]
    generator = torch.Generator().manual_seed(seed)
    random = hermitian_phase((2 * torch.rand(own.shape, generator=generator) - 1) * torch.pi, size[1])
    scrambled = torch.polar(own.abs(), random)
    scrambled[..., 0, 0] = own[..., 0, 0]
    return [nearest, image_of(shape, size, maco), image_of(scrambled, size, maco)]


def groups(quick: bool) -> list[tuple[str, Callable[[], Objective], list[int], bool]]:
    """(label, objective, units, are classes) for each group of quality.py part A targets."""
    if quick:
        return [("tiny classes", ClassLogit, [1, 4], True), ("tiny features.2", lambda: Channel("features.2"), [0, 3], False)]
    rows = [("classes", ClassLogit, quality.COMPARE_CLASSES, True)]
    rows += [(f"`{layer}` channels", lambda layer=layer: Channel(layer), channels, False)
             for layer, channels in quality.COMPARE_CHANNELS]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    quality.add_sweep_options(parser)
    parser.add_argument("--method", default="fourier", choices=[r.name for r in RECIPES],
                        metavar="NAME", help="the recipe (lit_actmax.recipes) that renders the original images")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    backbone = "lit_actmax.testing:tiny_backbone" if args.quick else "lite0"
    if args.quick:
        args.steps, args.size, args.views, args.seeds = 4, 32, 4, args.seeds[:1]
    method = get_recipe(args.method)
    rows = []
    for label, objective, units, classes in groups(args.quick):
        scores: list[list[float]] = [[] for _ in range(1 + len(SWAPS))]
        for seed in args.seeds:
            images, module, _ = quality.render(backbone, objective(), units, method, args.steps, args.size, seed)
            for column, version in zip(scores, [images, *swapped(images, seed)]):
                column += quality.judge(module, version, units, classes, args.views)[0]
        medians = [statistics.median(column) for column in scores]
        rows.append((label, medians))
        quality.log(f"{label:<24} " + " ".join(f"{m:.2f}" for m in medians))
    command = quality.command_line("phase_swap.py", argv)
    lines = [
        f"Phase or magnitude? `{backbone}` targets of quality.py part A rendered with **{method.name}** ({args.steps} "
        f"steps, {args.size} px, seeds {args.seeds}), then scored again (robust score, {args.views} random views) with "
        "half of each image swapped out; medians over targets and seeds, in brackets the fraction of the original "
        f"median kept; `{command}`.", "",
        f"| targets | {method.name} image | " + " | ".join(SWAPS) + " |",
        "|---|---:|" + "---:|" * len(SWAPS),
    ]
    for label, medians in rows:
        lines.append(f"| {label} | {medians[0]:.2f} | "
                     + " | ".join(f"{m:.2f} ({m / medians[0]:.2f})" if medians[0] > 0 else f"{m:.2f}" for m in medians[1:])
                     + " |")
    quality.print_and_append("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
