"""Quality benchmark: how well do the parameterizations draw what lite0 sees? Writes ``docs/quality.md``.

    python scripts/quality.py                      # the full benchmark on lite0 (about 30-45 min on 2 CPU cores)
    python scripts/quality.py --quick --out /tmp/q.md   # a smoke run on the tiny test backbone (seconds)

Part A renders a fixed set of lite0 classes and channels with each parameterization (pixel, fourier, maco, each
also with two crops per step) at the same number of optimizer steps, the same seeds and Lucid transforms, and
judges every final image by (a) its robust activation: the target's score averaged over 16 random
jitter/scale/rotation views, (b) how often lite0 puts the target class at top-1 on those views, and (c) two
naturalness statistics: the amplitude-spectrum slope (natural photographs: about -1 to -1.5; white noise: 0) and
the total variation, and (d) transferability: how often an independent judge model (``--judge``, default lite2,
a larger EfficientNet trained separately) ranks the target class top-1 / top-5 on the same views of the class
images (a picture that only fools the model it was optimized on is a weak one; MACO's paper claims its images
transfer better). Part B checks the default method (``lit_actmax.recipes.DEFAULT_RECIPE``, the quickstart's:
Fourier 1/f^1.5, natural transforms, Adam 0.02) at 256 steps on a panel of 20 ImageNet classes: a class passes when
the target is top-1 on at least half of the random views; part B2 renders the same panel with Lucid's Fourier
(``--panel-methods``). Every method is a recipe of ``lit_actmax.recipes``, by name.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit
from lit_actmax.backbones import Backbone, load_backbone
from lit_actmax.core.evaluate import robust_class_scores, robust_objective_scores
from lit_actmax.core.numerics import Numerics
from lit_actmax.image.contact_sheet import contact_sheet
from lit_actmax.image.io import save_png
from lit_actmax.image.stats import total_variation_per_pixel as total_variation
from lit_actmax.objectives import Objective
from lit_actmax.params.spectrum import spectrum_slope
from lit_actmax.recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe
from lit_actmax.run.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]

#: Part B: 20 ImageNet classes across animals, objects, food and scenes (index, name).
PANEL = [
    (1, "goldfish"), (9, "ostrich"), (22, "bald eagle"), (76, "tarantula"), (94, "hummingbird"),
    (130, "flamingo"), (145, "king penguin"), (207, "golden retriever"), (291, "lion"), (309, "bee"),
    (340, "zebra"), (388, "giant panda"), (417, "balloon"), (430, "basketball"), (504, "coffee mug"),
    (805, "soccer ball"), (947, "mushroom"), (950, "orange"), (954, "banana"), (980, "volcano"),
]
#: Part A: classes and channels rendered by every parameterization.
COMPARE_CLASSES = [9, 130, 309, 947]
#: A middle layer (textures) and a deep one (object parts; where MACO's paper places its advantage). The deep
#: channels were picked before any result was seen.
COMPARE_CHANNELS: list[tuple[str, list[int]]] = [("_blocks.10", [7, 42]), ("_blocks.14", [5, 60, 100])]
#: Part A: the parameterizations, each with Lucid's transforms and with two crops per step (lit_actmax.recipes).
METHODS = [get_recipe(name) for name in ("pixel", "pixel+crops", "fourier", "fourier+crops", "maco", "maco+crops")]
#: Markers of the section scripts/compare.py writes into this script's document (``--panel-into``): the random
#: class panel, which this script keeps when it rewrites the file.
PANEL_START, PANEL_END = "<!-- compare.py random panel: start -->", "<!-- compare.py random panel: end -->"
#: Where the channels of every depth are judged (issue 28): a line of this document's head.
CHANNEL_TABLE = ("Channels of every depth (random channels of four depths of lite0 and lite2: 32 per depth at 64 and "
                 "128 px, 8 at 224 px; the default, Lucid's method, MACO with crops and candidates; activation as "
                 "rendered and under held-out views, photograph statistics, explanation score) are measured by "
                 "`scripts/channel_quality.py`, in [channel_quality.md](channel_quality.md), whose first section sums "
                 "them up.")
#: Seed of the random views every image is judged on (by lite0 and by the transfer judge alike).
VIEW_SEED = 1234


def sheet_name(kind: str, method: str) -> str:
    """File name of a contact sheet: ``sheet_name("quality", "maco+crops")`` -> ``quality_maco_crops.png``."""
    return f"{kind}_{method.replace('+', '_')}.png"


@dataclass
class Result:
    method: str
    target: str
    seed: int
    score: float
    top1: float | None
    slope: float
    tv: float
    judge_top1: float | None = None
    judge_top5: float | None = None
    image: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))


def render(backbone: str, objective: Objective, units: list[int], method: Recipe, steps: int, size: int,
           seed: int, variants: int = 1) -> tuple[torch.Tensor, ActMaxModule, float]:
    """Render ``units`` (``variants`` images each, in one batch) with the recipe ``method`` through the Lightning
    Trainer; (N * variants, 3, H, W) images (a unit's variants side by side), module, seconds."""
    import pytorch_lightning as pl

    module = ActMaxModule(
        backbone=backbone, objective=objective, units=units, param=method.param(), transforms=method.transforms(),
        size=size, batch_size=len(units) * variants, variants=variants, steps_per_epoch=steps, epochs=1, seed=seed,
        save_outputs=False,
        optimizer=method.optimizer_factory(),
        numerics=Numerics(threads=torch.get_num_threads()),  # the script's --threads, as the peers get them
    )
    start = time.perf_counter()
    pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(module)
    return module.last_finished.images, module, time.perf_counter() - start


def judge(module: ActMaxModule, images: torch.Tensor, units: list[int], classes: bool, views: int,
          border: str = "constant") -> tuple[list, list]:
    """Robust score (and top-1 rate for classes) of each image over ``views`` random views, which show ``border``
    outside the image (:func:`~lit_actmax.core.evaluate.random_views`)."""
    if classes:
        scores = robust_class_scores(module.renderer.backbone_info, images, units, n=views, seed=VIEW_SEED,
                                     border=border)
        return scores.mean_score.tolist(), scores.top1.tolist()
    scores = robust_objective_scores(module.renderer.backbone_info, module.renderer.objective, images, units, n=views,
                                     seed=VIEW_SEED, border=border)
    return scores.tolist(), [None] * len(units)


def load_judge(spec: str | None, quick: bool) -> Backbone | None:
    """The independent judge of transferability, or ``None`` (with a message) when it cannot be loaded."""
    if spec is None or spec.lower() == "none":
        return None
    if quick:  # the tiny test backbone with other random weights: independent of the rendering model
        from lit_actmax.testing import tiny_backbone

        return tiny_backbone(seed=1)
    try:
        return load_backbone(spec)
    except (ImportError, OSError, ValueError) as error:
        log(f"no judge: {spec!r} could not be loaded ({error}); install the dev extras (pip install -e '.[dev]') "
            "for lite2, or pass --judge none")
        return None


def transfer_rates(judge_model: Backbone, images: torch.Tensor, classes: list[int], views: int) -> list[tuple[float, float]]:
    """Per class image: how often the judge ranks its class top-1 and top-5 over the same views as :func:`judge`."""
    judged = robust_class_scores(judge_model, images, classes, n=views, seed=VIEW_SEED, out_size=judge_model.input_size)
    return list(zip(judged.top1.tolist(), judged.top5.tolist()))


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """The options the sibling experiments (maco_sweep.py, phase_swap.py) share with part A's defaults."""
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--views", type=int, default=16)
    parser.add_argument("--out", type=Path, help="also append the table to this markdown file")
    parser.add_argument("--quick", action="store_true", help="smoke run on the tiny test backbone")


def print_and_append(text: str, out: Path | None) -> None:
    """Print a markdown table; with ``out``, also append it to that file after what it already holds."""
    print(text)
    if out is not None:
        previous = out.read_text() if out.is_file() else ""
        atomic_write_text(out, previous + ("\n" if previous else "") + text)


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """How this run was started, for the markdown it writes: ``python scripts/<script> [args]``."""
    args = list(argv) if argv is not None else sys.argv[1:]
    return f"python scripts/{script}" + (" " + shlex.join(args) if args else "")


def part_a(backbone: str, classes: list[int], layer_channels: Sequence[tuple[str, list[int]]],
           methods: Sequence[Recipe], seeds: Sequence[int], steps: int, size: int, views: int,
           judge_model: Backbone | None = None) -> tuple[list[Result], dict[str, float]]:
    results, seconds = [], {m.name: 0.0 for m in methods}
    jobs = [("class", None, ClassLogit(), classes)] if classes else []
    jobs += [("channel", layer, Channel(layer), channels) for layer, channels in layer_channels]
    for method in methods:
        for seed in seeds:
            for kind, layer, objective, units in jobs:
                images, module, took = render(backbone, objective, units, method, steps, size, seed)
                seconds[method.name] += took
                scores, top1 = judge(module, images, units, kind == "class", views)
                slopes, tvs = spectrum_slope(images).tolist(), total_variation(images).tolist()
                transfer = [(None, None)] * len(units)
                if kind == "class" and judge_model is not None:
                    transfer = transfer_rates(judge_model, images, units, views)
                for i, unit in enumerate(units):
                    target = f"class {unit}" if kind == "class" else f"{layer}:{unit}"
                    results.append(Result(method.name, target, seed, scores[i], top1[i], slopes[i], tvs[i],
                                          *transfer[i], image=images[i]))
                log(f"[A] {method.name:<13} seed {seed} {kind:<7} {took:5.1f}s  scores "
                    + " ".join(f"{s:.1f}" for s in scores))
    return results, seconds


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def target_group(target: str) -> str:
    """``"class 9"`` -> ``"classes"``; ``"_blocks.10:7"`` -> ``"_blocks.10"``."""
    return "classes" if target.startswith("class ") else target.rsplit(":", 1)[0]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def table_a(results: list[Result], methods: Sequence[Recipe], seconds: dict[str, float], seeds: Sequence[int],
            judge_name: str | None = None) -> str:
    targets = list(dict.fromkeys(r.target for r in results))
    groups = list(dict.fromkeys(target_group(t) for t in targets))
    layers = [g for g in groups if g != "classes"]
    judged = judge_name is not None and any(r.judge_top1 is not None for r in results)
    lines = [
        "| method | median robust class logit | median top-1 rate | "
        + (f"{judge_name} top-1 / top-5 rate (transfer, mean) | " if judged else "")
        + "".join(f"median robust channel act. `{layer}` | " for layer in layers)
        + "beats pixel (target x seed): " + " / ".join(groups)
        + " | spectrum slope | total variation | forwards/step | render time (s) |",
        "|---|---:|---:|" + "---:|" * (len(layers) + judged) + "---:|---:|---:|---:|---:|",
    ]
    by = {(r.method, r.target, r.seed): r for r in results}
    for m in methods:
        mine = [r for r in results if r.method == m.name]
        cls = [r for r in mine if r.top1 is not None]
        per_layer = "".join(f"{median([r.score for r in mine if target_group(r.target) == layer]):.2f} | "
                            for layer in layers)
        if m.name == "pixel":
            wins = "-"
        else:
            counts = []
            for group in groups:
                pairs = [(r, by.get(("pixel", r.target, r.seed))) for r in mine if target_group(r.target) == group]
                pairs = [(r, p) for r, p in pairs if p is not None]
                counts.append(f"{sum(r.score > p.score for r, p in pairs)}/{len(pairs)}")
            wins = " / ".join(counts)
        transfer = (f"{mean([r.judge_top1 for r in cls]):.2f} / {mean([r.judge_top5 for r in cls]):.2f} | "
                    if judged else "")
        lines.append(
            f"| {m.name} | {median([r.score for r in cls]):.2f} | {median([r.top1 for r in cls]):.2f} | {transfer}"
            f"{per_layer}{wins} | {median([r.slope for r in mine]):.2f} | "
            f"{median([r.tv for r in mine]):.3f} | {m.views_per_step} | {seconds[m.name]:.0f} |"
        )
    per_class = "top-1 rate" + (f"; {judge_name} top-5 rate, mean over seeds" if judged else "")
    lines += ["", "Per target: median robust score over seeds " + ", ".join(map(str, seeds)) + f" ({per_class} for classes).", "",
              "| target | " + " | ".join(m.name for m in methods) + " |", "|---|" + "---:|" * len(methods)]
    for target in targets:
        cells = []
        for m in methods:
            rows = [r for r in results if r.method == m.name and r.target == target]
            cell = f"{median([r.score for r in rows]):.2f}"
            if rows and rows[0].top1 is not None:
                transfer = f"; {mean([r.judge_top5 for r in rows]):.2f}" if judged else ""
                cell += f" ({median([r.top1 for r in rows]):.2f}{transfer})"
            cells.append(cell)
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def part_b(backbone: str, panel: list[tuple[int, str]], steps: int, size: int, views: int, seed: int,
           judge_model: Backbone | None = None, judge_name: str | None = None,
           method: Recipe = DEFAULT_RECIPE) -> tuple[str, float, torch.Tensor, float]:
    units = [c for c, _ in panel]
    images, module, took = render(backbone, ClassLogit(), units, method, steps, size, seed)
    scores, top1 = judge(module, images, units, True, views)
    transfer = transfer_rates(judge_model, images, units, views) if judge_model is not None else None
    lines = ["| class | name | robust logit | top-1 rate over views | passes (>= 0.5) |"
             + (f" {judge_name} top-1 / top-5 rate |" if transfer else ""),
             "|---:|---|---:|---:|:---:|" + ("---:|" if transfer else "")]
    passed = 0
    for i, ((unit, name), score, rate) in enumerate(zip(panel, scores, top1)):
        ok = rate >= 0.5
        passed += ok
        lines.append(f"| {unit} | {name} | {score:.2f} | {rate:.2f} | {'yes' if ok else 'NO'} |"
                     + (f" {transfer[i][0]:.2f} / {transfer[i][1]:.2f} |" if transfer else ""))
    if transfer:
        lines += ["", f"{judge_name}, the independent judge, puts {sum(t >= 0.5 for t, _ in transfer)}/{len(panel)} "
                  f"classes at top-1 and {sum(t >= 0.5 for _, t in transfer)}/{len(panel)} in its top-5 on at least "
                  "half of the views."]
    log(f"[B] {method.name}: {passed}/{len(panel)} classes at top-1 ({took:.0f}s)")
    return "\n".join(lines), passed / len(panel), images, took


def kept_panel(path: Path) -> str:
    """The section scripts/compare.py wrote into ``path`` between :data:`PANEL_START` and :data:`PANEL_END`, markers
    included ('' when there is none)."""
    text = path.read_text() if path.is_file() else ""
    if PANEL_START not in text or PANEL_END not in text:
        return ""
    return text[text.index(PANEL_START):text.index(PANEL_END) + len(PANEL_END)]


def tensor_sheet(images: Sequence[torch.Tensor], labels: Sequence[str], tile: int):
    """:func:`contact_sheet` of (3, H, W) tensors (written to a temporary folder first)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, image in enumerate(images):
            path = Path(tmp) / f"{i}.png"
            save_png(path, image)
            paths.append(path)
        return contact_sheet(paths, labels, tile=tile)


def write_grids(results: list[Result], methods: Sequence[Recipe], folder: Path, seed: int, tile: int) -> list[str]:
    """One contact sheet per method (seed ``seed``): the same targets side by side."""
    names = []
    for m in methods:
        rows = [r for r in results if r.method == m.name and r.seed == seed]
        if not rows:
            continue
        sheet = tensor_sheet([r.image for r in rows], [r.target for r in rows], tile=tile)
        name = sheet_name("quality", m.name)
        save_png(folder / name, sheet)
        names.append(name)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "quality.md")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=128, help="optimizer steps per image in part A")
    parser.add_argument("--panel-steps", type=int, default=256, help="optimizer steps per image in part B")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--views", type=int, default=16, help="random views per image for the robust scores")
    parser.add_argument("--judge", default="lite2", help="backbone spec of the transferability judge ('none': skip)")
    parser.add_argument("--skip-panel", action="store_true", help="only part A")
    parser.add_argument("--panel-methods", nargs="+", default=[DEFAULT_RECIPE.name, "fourier"],
                        choices=[r.name for r in RECIPES], metavar="NAME",
                        help=f"recipes (lit_actmax.recipes) that render the part B panel, each in its own section "
                        f"(default: {DEFAULT_RECIPE.name}, the quickstart's, then fourier without crops)")
    parser.add_argument("--quick", action="store_true", help="smoke run on the tiny test backbone")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    backbone, classes, layer_channels, panel = "lite0", COMPARE_CLASSES, COMPARE_CHANNELS, PANEL
    if args.quick:
        backbone, classes, layer_channels = "lit_actmax.testing:tiny_backbone", [1, 4], [("features.2", [0, 3])]
        panel = [(i, f"class_{i}") for i in (2, 5)]
        args.steps, args.panel_steps, args.size, args.seeds, args.views = 4, 4, 32, args.seeds[:2], 4

    started = time.perf_counter()
    judge_model = load_judge(args.judge, args.quick)
    judge_name = None if judge_model is None else ("tiny judge" if args.quick else args.judge)
    results, seconds = part_a(backbone, classes, layer_channels, METHODS, args.seeds, args.steps, args.size, args.views,
                              judge_model)
    folder = args.out.parent
    grids = write_grids(results, METHODS, folder, args.seeds[0], tile=96 if not args.quick else 32)
    command = command_line("quality.py", argv)
    doc = [
        "# Quality benchmark", "",
        f"Produced by `{command}` (lit_actmax, backbone `{backbone}`, CPU, "
        f"torch {torch.__version__}). Re-run it to refresh this file.", "",
        CHANNEL_TABLE, "",
        "## A. Parameterizations at equal steps", "",
        f"Every method renders the classes {classes} (class logit of `{backbone}`) and "
        + " and ".join(f"channels {c} of `{layer}`" for layer, c in layer_channels)
        + f" (mean channel activation) at {args.size} px for {args.steps} optimizer steps (Adam; NAdam for MACO), "
        f"with seeds {args.seeds} and Lucid's "
        "transforms (pad 12, jitter 8, scale 0.9-1.1, rotate +-10, jitter 4). Each final image is judged on "
        f"{args.views} random views (shift +-10%, zoom 0.8-1.2, rotation +-10 degrees): *robust* score = the target's "
        "mean over the views; *top-1 rate* = fraction of views where lite0's top class is the target. Spectrum slope: "
        "log amplitude vs log frequency (natural photographs about -1 to -1.5, white noise 0); total variation: mean "
        "absolute neighbour difference (lower = smoother). Medians are over all targets and seeds; *beats pixel* counts "
        "the (target, seed) pairs where the method's robust score is above the pixel image's."
        + (f" *Transfer*: the class images judged by `{judge_name}` (an independent model, at its own input size "
           f"{judge_model.input_size} px) on the same views: how often it ranks the target top-1 / top-5."
           if judge_name else ""), "",
        table_a(results, METHODS, seconds, args.seeds, judge_name), "",
        "Methods: " + "; ".join(f"**{m.name}**: {m.note}" for m in METHODS) + ".", "",
        "Images (seed %d): " % args.seeds[0] + ", ".join(f"[{g}]({g})" for g in grids), "",
        "Why MACO trails on some channels, and what relaxing each of its constraints changes: "
        "[maco_sweep.md](maco_sweep.md) (`scripts/maco_sweep.py`).", "",
    ]
    panel_methods = [] if args.skip_panel else [get_recipe(name) for name in dict.fromkeys(args.panel_methods)]
    for i, method in enumerate(panel_methods):
        name = method.name
        table, rate, images, took = part_b(backbone, panel, args.panel_steps, args.size, args.views, args.seeds[0],
                                           judge_model, judge_name, method)
        sheet = tensor_sheet(list(images), [f"{c} {n}" for c, n in panel], tile=96 if not args.quick else 32)
        image_name = "quality_panel.png" if name == DEFAULT_RECIPE.name else sheet_name("quality_panel", name)
        save_png(folder / image_name, sheet)
        title = (f"The default method on {len(panel)} classes" if name == DEFAULT_RECIPE.name
                 else f"{name} on the same {len(panel)} classes")
        doc += [
            f"## B{'' if i == 0 else i + 1}. {title}", "",
            f"**{name}** ({method.note}) at {args.size} px, {args.panel_steps} steps, seed {args.seeds[0]}, all "
            f"{len(panel)} classes in one batch ({took:.0f} s). A class passes when lite0 puts it at top-1 on at "
            f"least half of {args.views} random views.", "",
            f"**{rate * 100:.0f}% of the panel passes** ({round(rate * len(panel))}/{len(panel)}).", "",
            table, "", f"Images: [{image_name}]({image_name})", "",
        ]
    doc += [f"Total time: {time.perf_counter() - started:.0f} s.", ""]
    doc += [kept_panel(args.out), ""] if kept_panel(args.out) else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, "\n".join(doc))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
