"""lit_actmax side by side with its peers (lucent, torch-dreams): same model, classes, steps, size; one run.

    python scripts/compare.py --classes 8 --steps 256 --size 224     # writes docs/compare.md + docs/compare_*.png
    python scripts/compare.py --quick --out /tmp/c.md                 # smoke run on the tiny test backbone

Every method renders the same randomly drawn ImageNet classes (``--seed`` draws them; nobody picks them) of
lite0, interleaved batch by batch so that a slow moment of a shared machine hits all methods alike, and each
render is timed as its users run it: lit_actmax through its Lightning module, ``--batch`` classes per batch;
lucent's ``render_vis`` with a batched image parameter and one ``channel("net", class, batch=i)`` objective per
image; torch-dreams' ``Dreamer.render`` with its ``BatchedAutoImageParam`` and ``BatchedObjective`` (its documented
batch API). Peers get lite0 wrapped with its own preprocessing, so every tool feeds RGB in [0, 1] and the model
sees the same normalization (lucent's own ImageNet normalization is off: ``preprocess=False``; torch-dreams'
is undone with ``set_custom_normalization(nn.Identity())``). Otherwise peers keep their defaults.

Each final image is judged by lite0's top-1 rate over random views (``lit_actmax.core.evaluate``, the views of
``scripts/quality.py``), the independent lite2's top-1 rate on the same views, and ``lit_actmax.image.stats``:
high-frequency share, total variation per pixel, border/centre detail and contrast ratios.

The peers are benchmark-only extras (``pip install '.[compare]'``, or ``--no-deps`` into ``.peers/``, which this
script puts on ``sys.path``; lucent imports IPython only to show pictures in notebooks, so a stub stands in when
IPython is missing).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata
import operator
import os
import random
import statistics
import sys
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import quality  # scripts/quality.py, beside this script (on sys.path when run): render, judges, sheets
import torch
from torch import nn

from lit_actmax import ClassLogit
from lit_actmax.backbones import Backbone, load_backbone
from lit_actmax.core.evaluate import robust_class_scores
from lit_actmax.image.io import save_png
from lit_actmax.image.stats import (
    border_contrast_ratio,
    border_ratio,
    high_frequency_share,
    total_variation_per_pixel,
)
from lit_actmax.recipes import DEFAULT_RECIPE, RECIPES, get_recipe
from lit_actmax.run.files import atomic_write_text

__all__ = ["Renderer", "PreprocessedModel", "draw_classes", "peers_available", "main"]

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / ".peers"
#: lit_actmax recipes (lit_actmax.recipes) rendered here by default: the default (the quickstart's), then the one before it.
LIT_METHODS = [DEFAULT_RECIPE.name, "fourier+crops"]

#: The name of the default method's row.
DEFAULT_LABEL = "lit_actmax default"

#: A renderer: (backbone spec, backbone, classes, steps, size, seed) -> (N, 3, size, size) images in [0, 1].
RenderFn = Callable[[str, Backbone, list[int], int, int, int], torch.Tensor]


@dataclass
class Renderer:
    """One method of the comparison: how it renders a batch of classes and what it is."""

    name: str
    render: RenderFn
    settings: str
    version: str = ""


@dataclass
class Scores:
    """Per image of one method (lists over all classes), plus the seconds its renders took."""

    seconds: float = 0.0
    lite0_top1: list[float] = field(default_factory=list)
    judge_top1: list[float] = field(default_factory=list)
    hf: list[float] = field(default_factory=list)
    tv: list[float] = field(default_factory=list)
    border: list[float] = field(default_factory=list)
    contrast: list[float] = field(default_factory=list)
    images: list[torch.Tensor] = field(default_factory=list)


class PreprocessedModel(nn.Module):
    """A backbone as a plain ``nn.Module`` on RGB in [0, 1]: ``net(preprocess(x))``. Its logits are the output of
    the submodule ``net`` (lucent's layer name ``"net"``; torch-dreams' layer ``model.net``)."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.preprocess, self.net = backbone.preprocess, backbone.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(x))


def _add_peers_to_path() -> None:
    if PEERS.is_dir() and str(PEERS) not in sys.path:
        sys.path.append(str(PEERS))
    try:
        import IPython.display  # noqa: F401
    except ImportError:  # lucent.misc.io.showing imports it at module level, only to display in notebooks
        ipython, display = types.ModuleType("IPython"), types.ModuleType("IPython.display")
        ipython.display = display
        sys.modules.setdefault("IPython", ipython)
        sys.modules.setdefault("IPython.display", display)


def peers_available() -> dict[str, str]:
    """``{"lucent": why, "torch-dreams": why}`` for each peer that cannot be imported (empty: both can)."""
    _add_peers_to_path()
    missing = {}
    for name, module in (("lucent", "lucent.optvis.render"), ("torch-dreams", "torch_dreams")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                __import__(module)
        except Exception as error:  # noqa: BLE001 (any import failure of a peer is a reason to skip it)
            missing[name] = f"{type(error).__name__}: {error}"
    return missing


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def lit_renderer(method_name: str) -> Renderer:
    method = get_recipe(method_name)

    def render(spec: str, backbone: Backbone, classes: list[int], steps: int, size: int, seed: int) -> torch.Tensor:
        images, _, _ = quality.render(spec, ClassLogit(), classes, method, steps, size, seed)
        return images

    label = DEFAULT_LABEL if method_name == DEFAULT_RECIPE.name else f"lit_actmax {method_name}"
    return Renderer(f"{label}", render, f"recipe `{method_name}` of lit_actmax.recipes: {method.note}; "
                    f"{getattr(method.optimizer, '__name__', 'optimizer')} lr {method.lr}",
                    _version("lit_actmax"))


def lucent_render(spec: str, backbone: Backbone, classes: list[int], steps: int, size: int, seed: int) -> torch.Tensor:
    """lucent's ``render_vis`` with its defaults (FFT + decorrelated colour, Adam 0.05, standard transforms)."""
    import numpy as np
    from lucent.optvis import objectives, param, render

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = PreprocessedModel(backbone).eval()
    objective = functools.reduce(operator.add, [objectives.channel("net", c, batch=i) for i, c in enumerate(classes)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = render.render_vis(model, objective, param_f=lambda: param.image(size, batch=len(classes)),
                                   thresholds=(steps,), preprocess=False, progress=False, show_image=False,
                                   fixed_image_size=size)
    return torch.from_numpy(images[-1]).permute(0, 3, 1, 2).float()


def dreams_render(spec: str, backbone: Backbone, classes: list[int], steps: int, size: int, seed: int) -> torch.Tensor:
    """torch-dreams' ``Dreamer.render`` with its defaults (FFT, AdamW 9e-3, grad clip 1, affine 15 deg, resize 0.5-1.2)."""
    import numpy as np
    from torch_dreams import Dreamer
    from torch_dreams.batched_image_param import BatchedAutoImageParam
    from torch_dreams.batched_objective import BatchedObjective

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = PreprocessedModel(backbone).eval()
    dreamer = Dreamer(model, device="cpu", quiet=True)
    dreamer.set_custom_normalization(normalization_transform=nn.Identity())  # undo its ImageNet normalization

    def logit(c: int) -> Callable[[list[torch.Tensor]], torch.Tensor]:
        return lambda outputs: -outputs[0][:, c].mean()

    batch = BatchedAutoImageParam(batch_size=len(classes), height=size, width=size, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dreamer.render(layers=[model.net], image_parameter=batch, iters=steps,
                                custom_func=BatchedObjective([logit(c) for c in classes]))
    with torch.no_grad():
        return torch.cat([p.postprocess(device="cpu") for p in result.image_params]).float()


PEER_NAMES = ["lucent", "torch-dreams"]


def method_names() -> list[str]:
    """Every name ``--methods`` accepts: the recipes of lit_actmax.recipes, then the peers."""
    return [r.name for r in RECIPES] + PEER_NAMES


def renderers(peers: bool = True, names: Sequence[str] | None = None) -> list[Renderer]:
    """The methods called ``names`` (default: :data:`LIT_METHODS`, then the peers when ``peers``), in that order."""
    names = list(names) if names else LIT_METHODS + (PEER_NAMES if peers else [])
    unknown = [n for n in names if n not in method_names()]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose from {method_names()}")
    peer_renderers = {r.name: r for r in peer_list()}
    return [peer_renderers[n] if n in PEER_NAMES else lit_renderer(n) for n in names
            if n not in PEER_NAMES or peers]


def peer_list() -> list[Renderer]:
    """The peers with their settings and installed versions."""
    return [
        Renderer("lucent", lucent_render, "`render_vis` defaults: `param.image(size, batch=B)` (FFT, decorrelated, "
                 "sd 0.01), Adam 0.05, `standard_transforms` (pad 12 constant 0.5, jitter 8, scale 0.9-1.1, rotate "
                 "+-10, jitter 4), one view per step; `preprocess=False` (the wrapper normalizes for lite0)",
                 _version("torch-lucent")),
        Renderer("torch-dreams", dreams_render, "`Dreamer.render` defaults: `AutoImageParam` (FFT, decorrelated, "
                 "sd 0.01) per image, AdamW lr 9e-3, grad-norm clip 1.0, RandomAffine(15 deg), random resize "
                 "0.5-1.2, one view per step; its ImageNet normalization undone", _version("torch-dreams")),
    ]


def draw_classes(n: int, seed: int, num_classes: int) -> list[int]:
    """``n`` distinct classes drawn with ``random.Random(seed)`` (sorted)."""
    return sorted(random.Random(seed).sample(range(num_classes), n))


def measure(scores: Scores, images: torch.Tensor, classes: list[int], lite0: Backbone, judge: Backbone | None,
            views: int, border: int) -> None:
    images = images.detach().float().cpu().clamp(0, 1)
    lite0_rates = robust_class_scores(lite0, images, classes, n=views, seed=quality.VIEW_SEED)
    scores.lite0_top1 += lite0_rates.top1.tolist()
    if judge is not None:
        scores.judge_top1 += [t for t, _ in quality.transfer_rates(judge, images, classes, views)]
    scores.hf += high_frequency_share(images).tolist()
    scores.tv += total_variation_per_pixel(images).tolist()
    scores.border += border_ratio(images, border).tolist()
    scores.contrast += border_contrast_ratio(images, border).tolist()
    scores.images += list(images)


def time_methods(methods: Sequence[Renderer], spec: str, backbone: Backbone, classes: list[int], rounds: int,
                 steps: int, size: int, seed: int) -> dict[str, list[float]]:
    """Seconds per unit and step of each method, once per round; round ``r`` starts at method ``r`` (rotated order)."""
    timings: dict[str, list[float]] = {m.name: [] for m in methods}
    for r in range(rounds):
        for m in list(methods[r % len(methods):]) + list(methods[:r % len(methods)]):
            start = time.perf_counter()
            m.render(spec, backbone, classes, steps, size, seed)
            timings[m.name].append((time.perf_counter() - start) / len(classes) / steps)
            quality.log(f"[timing {r}] {m.name:<28} {timings[m.name][-1] * 1000:6.1f} ms / unit-step")
    return timings


def timing_table(methods: Sequence[Renderer], timings: dict[str, list[float]], timing_steps: int, steps: int,
                 batch: int) -> list[str]:
    """Markdown lines: median ms / unit-step over the rounds, its ratio to torch-dreams', seconds per unit at ``steps``."""
    if not any(timings.values()):
        return []
    rounds = len(next(iter(timings.values())))
    ref = statistics.median(timings["torch-dreams"]) if timings.get("torch-dreams") else None
    lines = [f"Timing: {rounds} rounds, each method renders the first {batch} classes for {timing_steps} steps "
             "(including its set-up), the method order rotated every round; medians over the rounds.", "",
             "| method | ms / unit-step (median) | rounds (ms) | x torch-dreams | s / unit at " + f"{steps} steps |",
             "|---|---:|---|---:|---:|"]
    for m in methods:
        t = timings[m.name]
        med = statistics.median(t)
        ratio = f"{med / ref:.2f}" if ref else "-"
        lines.append(f"| {m.name} | {med * 1000:.0f} | {', '.join(f'{x * 1000:.0f}' for x in t)} | {ratio} | "
                     f"{med * steps:.1f} |")
    return lines


def time_to_picture(methods: Sequence[Renderer], spec: str, backbone: Backbone, judge: Backbone, classes: list[int],
                    budgets: Sequence[int], steps: int, results: dict[str, Scores], size: int, seed: int,
                    views: int) -> list[str]:
    """Markdown lines: each method renders ``classes`` again at every budget below ``steps`` (a complete run of that
    many steps, schedules included); per class, the first budget at which the judge ranks it top-1 on at least half of
    the views; the median over classes of that budget's seconds per unit ("never": not at ``steps`` either)."""
    budgets = sorted(b for b in set(budgets) if b < steps)
    n = len(classes)
    lines = [f"Time to a good picture: the first {n} classes rendered again with {', '.join(map(str, budgets))} "
             f"steps (each a complete run), besides the {steps}-step run above. A class is *recognized* at a budget "
             "when the judge ranks it top-1 on at least half of the views; *time to top-1* is the median over the "
             "classes of the seconds per unit of the first budget that does it (never: not even at the full budget).",
             "", "| method | " + " | ".join(f"{b} steps: s / unit; recognized" for b in budgets + [steps])
             + " | median time to top-1 (s / unit) |", "|---|" + "---:|" * (len(budgets) + 2)]
    for m in methods:
        seconds, passed = [], []
        for budget in budgets:
            start = time.perf_counter()
            images = m.render(spec, backbone, classes, budget, size, seed).detach().float().cpu().clamp(0, 1)
            seconds.append((time.perf_counter() - start) / n)
            passed.append([t >= 0.5 for t, _ in quality.transfer_rates(judge, images, classes, views)])
            quality.log(f"[budget {budget}] {m.name:<28} {sum(passed[-1])}/{n} recognized, {seconds[-1]:.1f} s / unit")
        seconds.append(results[m.name].seconds / len(results[m.name].judge_top1))
        passed.append([t >= 0.5 for t in results[m.name].judge_top1[:n]])
        cells = [f"{sec:.1f}; {sum(p)}/{n}" for sec, p in zip(seconds, passed)]
        firsts = sorted(next((seconds[i] for i in range(len(seconds)) if passed[i][c]), float("inf")) for c in range(n))
        median = firsts[(n - 1) // 2]  # the lower median: a class count of either parity reads one budget
        lines.append(f"| {m.name} | " + " | ".join(cells) + f" | {'never' if median == float('inf') else f'{median:.1f}'} |")
    return lines


def _relative(target: Path, document: Path) -> str:
    """The folder prefix that leads from ``document``'s folder to ``target``'s ('' when they share it)."""
    rel = os.path.relpath(Path(target).resolve().parent, Path(document).resolve().parent)
    return "" if rel == "." else rel + "/"


def class_table(method: Renderer, scores: Scores, classes: list[int], names: Sequence[str], judge_name: str) -> str:
    """Markdown: one row per class of ``method``'s images (top-1 rates, hf share, TV, border ratio)."""
    lines = [f"| class | name | lite0 top-1 rate | {judge_name} top-1 rate | hf share | TV / px | border / centre detail |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for i, c in enumerate(classes):
        judged = f"{scores.judge_top1[i]:.2f}" if scores.judge_top1 else "-"
        lines.append(f"| {c} | {names[c]} | {scores.lite0_top1[i]:.2f} | {judged} | {scores.hf[i]:.3f} | "
                     f"{scores.tv[i]:.3f} | {scores.border[i]:.2f} |")
    return "\n".join(lines)


def write_panel_section(path: Path, section: str) -> None:
    """Put ``section`` between scripts/quality.py's panel markers in ``path`` (appended, with markers, when they are
    missing)."""
    text = path.read_text() if path.is_file() else ""
    start, end = quality.PANEL_START, quality.PANEL_END
    block = f"{start}\n{section.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write_text(path, text)


def photo_reference(size: int, border: int) -> str | None:
    """The same statistics of skimage's photographs resized to ``size`` (a reference row), or None."""
    try:
        from skimage import data
    except ImportError:
        return None
    import torch.nn.functional as F

    photos = []
    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"):
        photo = torch.tensor(getattr(data, name)()[..., :3]).permute(2, 0, 1).float().unsqueeze(0) / 255
        side = min(photo.shape[-2:])
        photos.append(F.interpolate(photo[..., :side, :side], size=(size, size), mode="bilinear", antialias=True,
                                    align_corners=False))
    batch = torch.cat(photos)
    med = [statistics.median(f(batch).tolist()) for f in (high_frequency_share, total_variation_per_pixel)]
    ratios = [statistics.median(f(batch, border).tolist()) for f in (border_ratio, border_contrast_ratio)]
    return (f"| skimage photos (astronaut, chelsea, coffee, rocket, immunohistochemistry), reference | - | - | - | - | "
            f"{med[0]:.3f} | {med[1]:.3f} | {ratios[0]:.2f} | {ratios[1]:.2f} |")


def table(methods: Sequence[Renderer], results: dict[str, Scores], steps: int, judge_name: str | None,
          photos: str | None) -> str:
    n = len(next(iter(results.values())).lite0_top1)
    lines = [
        f"| method | s / unit | s / unit-step | lite0 top-1 (views; classes >= 0.5) | {judge_name or 'judge'} top-1 (views;"
        " classes >= 0.5) | median hf share | median TV / px | median border / centre detail | median border / centre "
        "contrast |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in methods:
        s = results[m.name]
        judged = (f"{statistics.fmean(s.judge_top1):.2f}; {sum(t >= 0.5 for t in s.judge_top1)}/{n}"
                  if s.judge_top1 else "-")
        lines.append(
            f"| {m.name} | {s.seconds / n:.1f} | {s.seconds / n / steps * 1000:.0f} ms | "
            f"{statistics.fmean(s.lite0_top1):.2f}; {sum(t >= 0.5 for t in s.lite0_top1)}/{n} | {judged} | "
            f"{statistics.median(s.hf):.3f} | {statistics.median(s.tv):.3f} | {statistics.median(s.border):.2f} | "
            f"{statistics.median(s.contrast):.2f} |")
    if photos:
        lines.append(photos)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=8, help="how many ImageNet classes to draw")
    parser.add_argument("--seed", type=int, default=0, help="draws the classes; seeds every render")
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8, help="classes per render call (every method alike)")
    parser.add_argument("--views", type=int, default=16, help="random views per image for the top-1 rates")
    parser.add_argument("--judge", default="lite2", help="independent judge backbone ('none': skip)")
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help="methods to render, by name: lit_actmax.recipes' recipes, lucent, "
                        "torch-dreams (default: %s and the peers)" % ", ".join(LIT_METHODS))
    parser.add_argument("--budgets", type=int, nargs="*", default=[32, 64, 128],
                        help="step budgets of the time-to-picture table (first batch of classes; none: skip)")
    parser.add_argument("--panel-into", type=Path,
                        help="also write the default method's per-class table as a section of this file (e.g. "
                        "docs/quality.md)")
    parser.add_argument("--no-peers", action="store_true", help="only lit_actmax's methods")
    parser.add_argument("--timing-rounds", type=int, default=3,
                        help="extra timed renders of the first batch per method, method order rotated each round")
    parser.add_argument("--timing-steps", type=int, default=32, help="steps of each timing render")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch intra-op threads (1 on a machine shared with other jobs: spinning OpenMP "
                        "threads slowed a 2-thread run 20x while a test suite ran beside it)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "compare.md")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny test backbone, 2 classes, 8 steps, 64 px")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    spec = "lite0"
    if args.quick:
        spec, args.classes, args.steps, args.size, args.views = "lit_actmax.testing:tiny_backbone", 2, 8, 64, 4
        args.timing_rounds, args.timing_steps = min(args.timing_rounds, 1), 4
    missing = {} if args.no_peers else peers_available()
    for name, why in missing.items():
        quality.log(f"peer {name} skipped: {why}")
    methods = [m for m in renderers(not args.no_peers, args.methods) if m.name not in missing]
    backbone = load_backbone(spec)
    judge = quality.load_judge(args.judge, args.quick)
    judge_name = None if judge is None else ("tiny judge" if args.quick else args.judge)
    with torch.no_grad():
        num_classes = backbone.model(backbone.preprocess(torch.rand(1, 3, 64, 64))).shape[-1]
    classes = draw_classes(args.classes, args.seed, num_classes)
    border = max(1, round(16 * args.size / 224))
    results = {m.name: Scores() for m in methods}
    for m in methods:  # untimed warm-up: the first render of a process is several times slower (allocator, caches)
        m.render(spec, backbone, classes[:min(2, len(classes))], 2, args.size, args.seed)
    started = time.perf_counter()
    for first in range(0, len(classes), args.batch):
        batch = classes[first:first + args.batch]
        for m in methods:  # interleaved: every method renders this batch before the next batch starts
            start = time.perf_counter()
            images = m.render(spec, backbone, batch, args.steps, args.size, args.seed + first)
            took = time.perf_counter() - start
            results[m.name].seconds += took
            measure(results[m.name], images, batch, backbone, judge, args.views, border)
            quality.log(f"{m.name:<28} classes {batch}: {took:6.1f} s")
    timings = time_methods(methods, spec, backbone, classes[:args.batch], args.timing_rounds, args.timing_steps,
                           args.size, args.seed)
    budget_lines = (time_to_picture(methods, spec, backbone, judge, classes[:args.batch], args.budgets, args.steps,
                                    results, args.size, args.seed, args.views)
                    if args.budgets and judge is not None else [])
    names = backbone.class_names or [str(c) for c in range(num_classes)]
    sheets = []
    for m in methods:
        sheet = quality.tensor_sheet(results[m.name].images, [f"{c} {names[c]}" for c in classes],
                                     tile=min(args.size, 160))
        name = quality.sheet_name(args.out.stem, m.name.replace(" ", "_"))
        save_png(args.out.parent / name, sheet)
        sheets.append(f"[{m.name}]({name})")
    text = table(methods, results, args.steps, judge_name, photo_reference(args.size, border) if not args.quick else None)
    print(text)
    command = quality.command_line("compare.py", argv)
    doc = [
        "# lit_actmax and its peers, side by side", "",
        f"Produced by `{command}` on {datetime.date.today().isoformat()} (backbone `{spec}`, CPU, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; {time.perf_counter() - started:.0f} s in all). "
        "Re-run it to refresh this file.", "",
        f"Classes (drawn with seed {args.seed}): " + ", ".join(f"{c} {names[c]}" for c in classes) + ". "
        f"Every method: {args.steps} optimizer steps, {args.size} px, {args.batch} classes per render call, renders "
        "interleaved per batch.", "",
        text, "",
        *timing_table(methods, timings, args.timing_steps, args.steps, len(classes[:args.batch])), "",
        *budget_lines, "",
        f"*s / unit*: wall-clock seconds of the render calls divided by the number of classes (lit_actmax: including "
        f"its Trainer set-up); *s / unit-step*: the same per optimizer step. *Top-1*: mean over classes of the share "
        f"of {args.views} random views (shift +-10%, zoom 0.8-1.2, rotation +-10 degrees; the views of "
        "`scripts/quality.py`) on which the model ranks the class first, then how many classes reach 0.5"
        + (f"; {judge_name} is an independent model judged at its own input size {judge.input_size} px"
           if judge is not None else "") + ". *hf share*: power of the mean-removed luminance above 0.25 "
        "cycles/pixel (mirrored FFT); *TV / px*: mean |vertical| + mean |horizontal| neighbour difference; *border / "
        f"centre*: mean luminance gradient magnitude (detail) and luminance std (contrast) in the outer {border} px "
        "over the rest (`lit_actmax.image.stats`). Photographs: hf share about 0.01-0.025, TV about 0.05.", "",
        "Methods and versions:", "",
        *[f"- **{m.name}** ({m.version}): {m.settings}." for m in methods], "",
        "Peers are benchmark-only extras (`compare` in pyproject.toml). Installed here with "
        "`pip install --target .peers --no-deps torch-lucent==0.1.8 torch-dreams==4.0.0 decorator kornia==0.4.1 "
        "opencv-python-headless` (their declared pins, e.g. ipython, pytest and coveralls for lucent, would pull a "
        "test stack into the env; lucent needs kornia <= 0.4.1; torch-dreams imports cv2); IPython is stubbed.", "",
        "Images: " + ", ".join(sheets), "",
    ]
    default = next((m for m in methods if m.name == DEFAULT_LABEL), None)
    per_class = ""
    if default is not None:
        per_class = class_table(default, results[default.name], classes, names, judge_name or "judge")
        doc += [f"## Per class: {default.name}", "", per_class, ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, "\n".join(doc))
    quality.log(f"wrote {args.out}")
    if args.panel_into is not None and default is not None:
        scores = results[default.name]
        recognized = sum(t >= 0.5 for t in scores.judge_top1)
        sheet = next(x for x in sheets if x.startswith(f"[{default.name}]"))
        link = Path(args.out).name
        section = [
            f"## B3. The default method on {len(classes)} random classes at {args.size} px", "",
            f"Drawn with `random.Random({args.seed})` from all {num_classes} classes (not picked), rendered by "
            f"`{command}` in the run that wrote [{link}]({link}) ({DEFAULT_RECIPE.name} of lit_actmax.recipes, "
            f"{args.steps} steps, {args.batch} classes per batch). {judge_name or 'The judge'} ranks "
            f"{recognized}/{len(classes)} classes top-1 on at least half of {args.views} random views; medians: hf share "
            f"{statistics.median(scores.hf):.3f}, TV / px {statistics.median(scores.tv):.3f}, border / centre detail "
            f"{statistics.median(scores.border):.2f}. Images: {sheet.replace('](', '](' + _relative(args.out, args.panel_into))}.",
            "", per_class, "",
        ]
        write_panel_section(args.panel_into, "\n".join(section))
        quality.log(f"wrote the panel section of {args.panel_into}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
