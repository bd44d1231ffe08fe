"""Channel benchmark: which method draws channels of every depth best, at atlas sizes? Prints a markdown table.

    python scripts/channel_quality.py --quick               # lite0, 2 channels of _blocks.8, 128 px, 8 steps
    python scripts/channel_quality.py --out docs/channel_quality.md    # the full table: hours on 2 CPU cores

Channels of four depths of each backbone (``--backbones``; lite0 and lite2, the trained models that install offline),
``--channels`` per depth drawn with ``random.Random(f"{seed}:{backbone}:{layer}")`` (nobody picks them), rendered by
every method (recipes of ``lit_actmax.recipes``, ``--methods``) at every size (``--sizes``), ``--variants`` images
per channel (the seeds of a unit's variants differ), through the Lightning module as ``scripts/quality.py`` renders.

Per method, backbone, depth and size, medians over the channels of:

- *act / best photo*: the picture's channel activation (mean over positions, at its size) divided by the channel's
  strongest over natural images: ``--crops-per-photo`` random square crops (0.25-1.0 of the short side) of each
  photograph of ``skimage.data`` (``PHOTOS``; or every image of ``--images``), resized to the same size. Channels
  whose strongest natural activation is not positive are left out of this ratio (their count is given).
- *held-out / best photo*: the same, of the mean activation over ``--views`` random views (shift, zoom, rotation:
  ``lit_actmax.core.evaluate.random_views``, not the training transforms), where what a view shows outside the
  picture is grey (the picture on a grey page);
- *held-out, mirrored frame*: the same views showing the mirror image outside the picture. A grey frame favours
  methods that train on grey padding (Lucid's), a mirrored one methods that train on mirrors; the two bracket it;
- *of best* (after each of the three): the method's value over the best method's at that depth (the issue's
  acceptance: the default keeps >= 0.9 of the best method's activation ratio);
- *hf share*, *TV / px*, *border / centre* (detail), *clipped* (``lit_actmax.image.stats``), with the natural crops'
  medians (and, for hf share and TV, their 10th-90th percentiles) as a reference row; *photo-like*: the method's
  median hf share and TV both lie within those percentiles (the acceptance's "within photographs' range");
- *diversity*: 1 - mean cosine similarity of a channel's variants in the perceptual embedding;
- *s / unit*: render seconds per channel (all its variants), as measured on this machine;
- *explanation score* (``lit_actmax.core.explanation_score``): does the picture sit closer to a channel's strongly
  than to its weakly activating natural crops (its top and bottom ``--k``, one crop per photograph; queries
  alternate with the references), in lite0's features at four depths; 0.5 = chance; in brackets the held-out top
  crops' own score. The embedding is lite0's: for lite0's own channels it is not independent of the model
  explained (Zimmermann et al. use another network); lite2's rows are.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import quality  # scripts/quality.py, beside this script (on sys.path when run): render, judge, log, command line
import torch
from estimate_spectrum import folder_images, skimage_photos  # scripts/estimate_spectrum.py: the photographs

from lit_actmax import Channel
from lit_actmax.backbones import Backbone, load_backbone
from lit_actmax.backbones.input_size import resize_to
from lit_actmax.backbones.probe import LayerProbe
from lit_actmax.core.dataset_scores import unit_scores
from lit_actmax.core.explanation_score import Embedding, explanation_score, load_embedding
from lit_actmax.image.stats import border_ratio, clipped_share, high_frequency_share, total_variation_per_pixel
from lit_actmax.recipes import DEFAULT_RECIPE, Recipe, get_recipe

__all__ = ["DEPTHS", "METHODS", "PHOTOS", "draw_channels", "natural_crops", "main"]

#: Four depths per backbone, at about the same share of the network (lite0: 16 blocks, lite2: 21).
DEPTHS = {"lite0": ["_blocks.4", "_blocks.8", "_blocks.12", "_blocks.15"],
          "lite2": ["_blocks.5", "_blocks.11", "_blocks.16", "_blocks.20"]}
#: The default, Lucid's, MACO + crops, and candidates (lit_actmax.recipes).
METHODS = [DEFAULT_RECIPE.name, "fourier", "maco+crops", "natural+lr0.05", "natural+decay1", "natural+decay1.25+lr0.03"]
#: Photographs bundled with scikit-image (grey ones as RGB): the natural images when no --images folder is given.
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field", "immunohistochemistry",
          "retina", "camera", "brick", "grass", "gravel", "coins", "moon", "clock")


#: What --quick changes (options given with it still win).
QUICK = {"backbones": ["lite0"], "layers": ["_blocks.8"], "channels": 2, "sizes": [128], "steps": 8, "views": 4,
         "crops_per_photo": 2}


def draw_channels(backbone: str, layer: str, channels: int, count: int, seed: int) -> list[int]:
    """``count`` distinct channels of ``channels``, drawn with ``random.Random(f"{seed}:{backbone}:{layer}")``."""
    return sorted(random.Random(f"{seed}:{backbone}:{layer}").sample(range(channels), min(count, channels)))


def natural_crops(photos: Sequence[torch.Tensor], per_photo: int, size: int,
                  seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, 3, size, size) random square crops (0.25-1.0 of each photo's short side; M = len(photos) * per_photo), and
    (M,) the side in the photograph each was cut from (a crop from fewer than ``size`` pixels is upsampled)."""
    generator = torch.Generator().manual_seed(seed)
    crops, sides = [], []
    for photo in photos:
        h, w = photo.shape[-2:]
        for _ in range(per_photo):
            side = max(8, int(min(h, w) * float(torch.empty(1).uniform_(0.25, 1.0, generator=generator))))
            top = int(torch.randint(0, h - side + 1, (1,), generator=generator))
            left = int(torch.randint(0, w - side + 1, (1,), generator=generator))
            crops.append(resize_to(photo[None, :, top:top + side, left:left + side], (size, size))[0])
            sides.append(side)
    return torch.stack(crops).clamp(0, 1), torch.tensor(sides)


def channel_scores(backbone: Backbone, layer: str, images: torch.Tensor, units: list[int],
                   chunk: int = 32) -> torch.Tensor:
    """(N, 3, S, S) -> (N, U): each image's mean activation of each channel of ``units`` (at the image's size)."""
    probe, objective = LayerProbe(backbone.model, [layer]), Channel(layer)
    with torch.no_grad():
        return torch.cat([unit_scores(objective, probe(backbone.model_input(part)), torch.tensor(units))
                          for part in images.split(chunk)])


def extreme_crops(scores: torch.Tensor, photo_of: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One channel's (M,) crop ``scores`` -> the indices of its ``k`` strongest crops (best first) and ``k`` weakest,
    at most one crop per photograph (``photo_of`` (M,)) and no photograph in both lists: crops of one photograph are
    near-duplicates, which would make the held-out examples' reference score trivially 1."""
    used: set[int] = set()
    top: list[int] = []
    bottom: list[int] = []
    for chosen, order in ((top, scores.argsort(descending=True)), (bottom, scores.argsort())):
        for i in order.tolist():
            if len(chosen) == k:
                break
            if int(photo_of[i]) not in used:
                used.add(int(photo_of[i]))
                chosen.append(i)
    return torch.tensor(top), torch.tensor(bottom)


def channel_count(backbone: Backbone, layer: str, size: int) -> int:
    """How many channels ``layer`` has (its activation's dimension 1 at ``size`` px)."""
    with torch.no_grad():
        acts = LayerProbe(backbone.model, [layer])(backbone.model_input(torch.rand(1, 3, size, size)))
    return int(acts[layer].shape[1])


@dataclass
class Cell:
    """Per-channel measures of one method at one (backbone, depth, size)."""

    ratio: list[float] = field(default_factory=list)
    held_out: list[float] = field(default_factory=list)
    held_out_mirrored: list[float] = field(default_factory=list)
    hf: list[float] = field(default_factory=list)
    tv: list[float] = field(default_factory=list)
    border: list[float] = field(default_factory=list)
    clipped: list[float] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)
    picture: list[float] = field(default_factory=list)
    examples: list[float] = field(default_factory=list)
    left_out: int = 0
    seconds: float = 0.0
    units: int = 0


def diversity(features: torch.Tensor) -> float:
    """1 - mean pairwise cosine similarity of (V, D) embeddings of one unit's variants (0 with one variant)."""
    if features.shape[0] < 2:
        return 0.0
    normed = torch.nn.functional.normalize(features.double(), dim=1)
    similarity = normed @ normed.T
    v = features.shape[0]
    return float(1 - (similarity.sum() - similarity.diagonal().sum()) / (v * (v - 1)))


def measure(cell: Cell, method: Recipe, spec: str, backbone: Backbone, layer: str, units: list[int], size: int,
            crops: torch.Tensor, crop_features: torch.Tensor, embedding: Embedding, args: argparse.Namespace) -> None:
    """Render ``units`` of ``layer`` at ``size`` px with ``method`` (``args.batch`` channels at a time) and add their
    measures to ``cell``; ``crops`` (M, 3, size, size) are the natural images, ``crop_features`` their embeddings."""
    natural = channel_scores(backbone, layer, crops, units)  # (M, U)
    best = natural.max(0).values
    photo_of = torch.arange(crops.shape[0]) // args.crops_per_photo
    for start in range(0, len(units), args.batch):
        part = units[start:start + args.batch]
        images, module, took = quality.render(spec, Channel(layer), part, method, args.steps, size, args.seed,
                                              args.variants)
        finished = module.last_finished
        images = images.detach().float().clamp(0, 1)
        held, _ = quality.judge(module, images, finished.units, False, args.views)
        mirrored, _ = quality.judge(module, images, finished.units, False, args.views, border="symmetric")
        plain = channel_scores(backbone, layer, images, part)
        features = embedding(images)
        cell.seconds += took
        cell.units += len(part)
        for unit in part:
            column = units.index(unit)
            mine = [i for i, u in enumerate(finished.units) if u == unit]
            if best[column] > 0:
                cell.ratio.append(statistics.fmean(float(plain[i, part.index(unit)]) / float(best[column])
                                                   for i in mine))
                cell.held_out.append(statistics.fmean(held[i] / float(best[column]) for i in mine))
                cell.held_out_mirrored.append(statistics.fmean(mirrored[i] / float(best[column]) for i in mine))
            else:
                cell.left_out += 1
            cell.diversity.append(diversity(features[mine]))
            strong, weak = extreme_crops(natural[:, column], photo_of, args.k)
            score = explanation_score(features[mine], crop_features[strong], crop_features[weak])
            cell.picture.append(score.picture)
            cell.examples.append(score.examples)
        cell.hf += high_frequency_share(images).tolist()
        cell.tv += total_variation_per_pixel(images).tolist()
        cell.border += border_ratio(images, border_width(size)).tolist()
        cell.clipped += clipped_share(images).tolist()
        quality.log(f"  {method.name:<26} {spec} {layer} {size}px channels {part}: {took:.1f}s")


def border_width(size: int) -> int:
    """The frame of the border/centre ratio: 16 px at 224 px, as scripts/compare.py measures it."""
    return max(1, round(16 * size / 224))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def photo_range(values: torch.Tensor) -> tuple[float, float]:
    """The 10th and 90th percentiles of the natural crops' (M,) measure: the range a picture's median should keep to."""
    low, high = values.double().quantile(torch.tensor([0.1, 0.9], dtype=torch.float64)).tolist()
    return low, high


def within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def table(cells: dict[tuple[str, str, str, int], Cell], methods: Sequence[Recipe], spec: str, layers: Sequence[str],
          size: int, crops: torch.Tensor, sides: torch.Tensor) -> str:
    """One markdown table of a backbone at one size: a row per (depth, method), and the natural crops' rows (all of
    them, whose percentiles judge *photo-like*; and those cut from at least ``size`` px of a photograph (``sides``),
    whose statistics upsampling has not smoothed)."""
    lines = [f"### {spec} at {size} px", "",
             "| depth | method | act / best photo | of best | held-out / best photo | of best "
             "| held-out, mirrored frame | of best | hf share | TV / px | photo-like | border / centre | clipped "
             "| diversity | s / unit | explanation score (examples) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|"]
    border = border_width(size)
    crop_hf, crop_tv = high_frequency_share(crops), total_variation_per_pixel(crops)
    hf_range, tv_range = photo_range(crop_hf), photo_range(crop_tv)
    for layer in layers:
        mine = {m.name: cells[(m.name, spec, layer, size)] for m in methods}
        best = {measure: max((median(getattr(c, measure)) for c in mine.values() if getattr(c, measure)),
                             default=float("nan")) for measure in ("ratio", "held_out", "held_out_mirrored")}
        for name, c in mine.items():
            left_out = f" ({c.left_out} left out)" if c.left_out else ""
            lines.append(
                f"| `{layer}` | {name} | {median(c.ratio):.2f}{left_out} | {median(c.ratio) / best['ratio']:.2f} | "
                f"{median(c.held_out):.2f} | {median(c.held_out) / best['held_out']:.2f} | "
                f"{median(c.held_out_mirrored):.2f} | {median(c.held_out_mirrored) / best['held_out_mirrored']:.2f} | "
                f"{median(c.hf):.3f} | {median(c.tv):.3f} | "
                f"{'yes' if within(median(c.hf), hf_range) and within(median(c.tv), tv_range) else 'no'} | "
                f"{median(c.border):.2f} | "
                f"{median(c.clipped):.3f} | {median(c.diversity):.3f} | {c.seconds / max(1, c.units):.1f} | "
                f"{statistics.fmean(c.picture):.2f} ({statistics.fmean(c.examples):.2f}) |")
    lines.append(reference_row("natural crops (reference; p10-p90)", crops, crop_hf, crop_tv, border))
    native = sides >= size
    if native.any():
        lines.append(reference_row(f"natural crops cut from >= {size} px ({int(native.sum())} of {len(sides)}; "
                                   "p10-p90)", crops[native], crop_hf[native], crop_tv[native], border))
    return "\n".join(lines)


def reference_row(label: str, crops: torch.Tensor, hf: torch.Tensor, tv: torch.Tensor, border: int) -> str:
    """A table row of natural crops (M, 3, S, S) with their (M,) hf shares and TVs: medians and 10th-90th
    percentiles."""
    hf_range, tv_range = photo_range(hf), photo_range(tv)
    return (f"| - | {label} | 1 | - | - | - | - | - "
            f"| {median(hf.tolist()):.3f} ({hf_range[0]:.3f}-{hf_range[1]:.3f}) "
            f"| {median(tv.tolist()):.3f} ({tv_range[0]:.3f}-{tv_range[1]:.3f}) | - "
            f"| {median(border_ratio(crops, border).tolist()):.2f} | {median(clipped_share(crops).tolist()):.3f} | "
            "- | - | - |")


def photographs(folder: Path | None) -> tuple[list[torch.Tensor], str]:
    """The natural images and a line saying which they are."""
    if folder is not None:
        images, _ = folder_images(folder, max_images=10_000, min_side=32, seed=0)
        return images, f"the {len(images)} images of `{folder}`"
    images, _ = skimage_photos(PHOTOS)
    return images, "the photographs of `skimage.data` (" + ", ".join(PHOTOS) + ")"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=list(DEPTHS), choices=list(DEPTHS))
    parser.add_argument("--layers", nargs="+", default=None,
                        help="depths to measure (default: DEPTHS of each backbone)")
    parser.add_argument("--channels", type=int, default=32, help="channels drawn per depth")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 224])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--variants", type=int, default=2, help="images per channel (diversity needs 2 or more)")
    parser.add_argument("--methods", nargs="+", default=METHODS, metavar="RECIPE")
    parser.add_argument("--views", type=int, default=8, help="held-out random views per picture")
    parser.add_argument("--k", type=int, default=6, help="top and bottom natural crops per channel, one per photograph "
                        "(explanation score; 2 k photographs are needed)")
    parser.add_argument("--crops-per-photo", type=int, default=16)
    parser.add_argument("--images", type=Path, default=None, help="a folder of natural images instead of skimage's")
    parser.add_argument("--batch", type=int, default=8, help="channels rendered together")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also append the tables to this markdown file")
    parser.add_argument("--quick", action="store_true", help="lite0, 2 channels of _blocks.8, 128 px, 8 steps (each "
                        "can still be given)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--quick" in argv:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    methods = [get_recipe(name) for name in dict.fromkeys(args.methods)]  # an unknown name: one sentence
    if args.variants < 1 or args.k < 2 or args.channels < 1:
        raise SystemExit("--variants and --channels must be >= 1 and --k >= 2.")
    if args.images is not None and not args.images.is_dir():
        raise SystemExit(f"--images {str(args.images)!r} is not a folder of images.")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    photos, source = photographs(args.images)
    if len(photos) < 2 * args.k:
        raise SystemExit(f"{len(photos)} natural images are too few for --k {args.k}; give more images or a smaller "
                         "--k.")
    embedding = load_embedding()
    sections = []
    for size in args.sizes:
        crops, sides = natural_crops(photos, args.crops_per_photo, size, args.seed)
        crop_features = embedding(crops)
        for spec in args.backbones:
            backbone = load_backbone(spec)
            layers = args.layers or DEPTHS[spec]
            cells: dict[tuple[str, str, str, int], Cell] = {}
            for layer in layers:
                units = draw_channels(spec, layer, channel_count(backbone, layer, size), args.channels, args.seed)
                for method in methods:
                    cell = cells.setdefault((method.name, spec, layer, size), Cell())
                    measure(cell, method, spec, backbone, layer, units, size, crops, crop_features, embedding, args)
            sections.append(table(cells, methods, spec, layers, size, crops, sides))
    command = quality.command_line("channel_quality.py", argv)
    text = "\n".join([
        "## Run: channels of every depth", "",
        f"Made by `{command}` (CPU, torch {torch.__version__}, {time.perf_counter() - started:.0f} s). "
        f"{args.channels} channels per depth drawn at random (seed {args.seed}), {args.steps} steps, {args.variants} "
        f"variant(s) each; natural images: {source}, {args.crops_per_photo} crops each; held-out views: "
        f"{args.views}; explanation score: {embedding.describe()}, top/bottom {args.k} crops (one per image). Methods: "
        + "; ".join(f"**{m.name}**: {m.note}" for m in methods) + ".", "", *[s + "\n" for s in sections]])
    quality.print_and_append(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
