"""Why does MACO trail pixel images on lite0 channels? Render the channels of ``scripts/quality.py`` with MACO
variants that each relax one of its constraints, beside the pixel and Fourier references, and print a table.

Variants of MACO as quality.py renders it (NAdam 1.0, the authors' optimizer): Adam at several learning rates;
the spectrum tilted flatter by ``f ** tilt`` (more energy in fine textures); a higher contrast; a learnable mean
colour (MACO fixes the DC term to mid grey); no phase standardization; the authors' code's start (phase ~ N(0, 1)
kept at standard deviation 1). Same steps, seeds, transforms and robust score (16 random views) as quality.py part A.

    python scripts/maco_sweep.py              # lite0, seeds 0 1 2, about 3 minutes on 2 CPU cores
    python scripts/maco_sweep.py --layer _blocks.15 --channels 3 50 --only pixel fourier "maco + *"
    python scripts/maco_sweep.py --steps 512 --only pixel fourier maco   # does MACO catch up with more steps?
    python scripts/maco_sweep.py --quick      # smoke run on the tiny test backbone
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence

import quality  # scripts/quality.py, beside this script (on sys.path when run): render, judge
import torch
from torch import nn

from lit_actmax import Channel
from lit_actmax.params import Maco, decorrelated_to_rgb, squash
from lit_actmax.params.spectrum import Spectrum, fft_frequencies, load_spectrum, magnitude_slope, save_spectrum
from lit_actmax.recipes import Recipe, get_recipe


class MacoMeanColour(Maco):
    """MACO plus a learnable mean colour per image, (N, 3, 1, 1) in decorrelated space (MACO keeps it grey)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mean_colour = nn.Parameter(torch.zeros(0, 3, 1, 1))

    def reset(self, generators: Sequence[torch.Generator], size) -> None:
        super().reset(generators, size)
        self.mean_colour.data = torch.zeros(len(generators), 3, 1, 1, device=self.phase.device)

    def forward(self) -> torch.Tensor:
        return squash(decorrelated_to_rgb(self.decorrelated() + self.mean_colour, self.color), self.activation)


class MacoReferenceStart(Maco):
    """MACO started as the authors' PyTorch code (Horama) starts it: phase parameters ~ N(0, 1), used standardized
    to mean 0 and standard deviation 1 (this class keeps them so; :class:`Maco` maps them back to its uniform
    start). Phases with a standard deviation of 1 radian stay partly aligned, which adds a fixed peaked component
    to every image: bright corners (the peak at pixel (0, 0), wrapped around), visible in the final images."""

    def reset(self, generators: Sequence[torch.Generator], size) -> None:
        super().reset(generators, size)
        h, w = self.size
        phase = [torch.randn(3, h, w // 2 + 1, generator=g) for g in generators]
        self._store_phase(torch.stack(phase).to(self.phase.device) if phase else self.phase.data)
        self.phase_scale = torch.ones_like(self.phase_scale)
        self.phase_shift = torch.zeros_like(self.phase_shift)


def tilted_spectrum(tilt: float, folder: Path) -> tuple[str, float]:
    """Write the shipped spectrum times ``(f / f_max) ** tilt`` to ``folder``; (its path, its slope)."""
    base = load_spectrum()
    s = base.size
    radius = fft_frequencies(s, s).double().clamp(min=1.0 / s)
    magnitude = base.magnitude.double() * (radius / radius.max()) ** tilt
    path = save_spectrum(Spectrum(magnitude.float(), base.color, base.sources, base.window), folder / f"tilt{tilt}.npz")
    return str(path), float(magnitude_slope(magnitude.mean(0, keepdim=True), s))


def variants(folder: Path) -> list[Recipe]:
    """The reference recipes (lit_actmax.recipes) and the MACO variants, each a :class:`Recipe`. A variant changes one
    thing of the ``maco`` recipe (shipped spectrum, NAdam 1.0, Lucid transforms)."""
    maco = get_recipe("maco")
    methods = [get_recipe(name) for name in ("pixel", "fourier", "maco")]

    def like_maco(name: str, param: Callable[[], Maco], **changes) -> Recipe:
        return dataclasses.replace(maco, name=name, param=param, note="", **changes)

    for lr in (0.1, 0.5, 1.0):
        methods.append(like_maco(f"maco, Adam {lr}", Maco, lr=lr, optimizer=torch.optim.Adam))
    for tilt in (0.25, 0.5, 1.0):
        path, slope = tilted_spectrum(tilt, folder)
        methods.append(like_maco(f"maco tilt {tilt} (slope {slope:.2f})", lambda p=path: Maco(p)))
    methods += [
        like_maco("maco contrast 1.5", lambda: Maco(contrast=1.5)),
        like_maco("maco + mean colour", MacoMeanColour),
        like_maco("maco, raw phase, Adam 0.1", lambda: Maco(normalize_phase=False), lr=0.1, optimizer=torch.optim.Adam),
        like_maco("maco, reference start", MacoReferenceStart),
    ]
    return methods


def selected(name: str, patterns: Sequence[str]) -> bool:
    """Whether ``name`` is one of ``patterns`` (exact names, or ``PREFIX*`` for every name starting with PREFIX)."""
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    quality.add_sweep_options(parser)
    parser.add_argument("--layer", default=quality.COMPARE_CHANNELS[0][0])
    parser.add_argument("--channels", type=int, nargs="+", default=quality.COMPARE_CHANNELS[0][1])
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="only these methods (exact names; 'PREFIX*' for all whose name starts with PREFIX)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    backbone, layer, channels = "lite0", args.layer, args.channels
    if args.quick:
        backbone, layer, channels = "lit_actmax.testing:tiny_backbone", "features.2", [0, 3]
        args.steps, args.size, args.views, args.seeds = 4, 32, 4, args.seeds[:1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        methods = [m for m in variants(Path(tmp)) if not args.only or selected(m.name, args.only)]
        if not methods:
            parser.error(f"--only {' '.join(args.only)} matches no method.")
        for method in methods:
            scores: dict[int, list[float]] = {c: [] for c in channels}
            for seed in args.seeds:
                images, module, _ = quality.render(backbone, Channel(layer), channels, method, args.steps, args.size, seed)
                for channel, score in zip(channels, quality.judge(module, images, channels, False, args.views)[0]):
                    scores[channel].append(score)
            per_channel = [statistics.median(scores[c]) for c in channels]
            rows.append((method.name, f"{method.optimizer.__name__} {method.lr:g}",
                         statistics.median([s for c in channels for s in scores[c]]), per_channel))
            quality.log(f"{method.name:<36} median {rows[-1][2]:.2f}")
    command = quality.command_line("maco_sweep.py", argv)
    lines = [
        f"Robust channel activation of `{backbone}` `{layer}` channels {channels}, {args.steps} optimizer steps at "
        f"{args.size} px, medians over seeds {args.seeds} ({args.views} random views each); `{command}`.", "",
        "| method | optimizer, lr | median | " + " | ".join(f"ch {c}" for c in channels) + " |",
        "|---|---|---:|" + "---:|" * len(channels),
    ]
    lines += [f"| {name} | {optimizer} | {med:.2f} | " + " | ".join(f"{v:.2f}" for v in per_channel) + " |"
              for name, optimizer, med, per_channel in rows]
    quality.print_and_append("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
