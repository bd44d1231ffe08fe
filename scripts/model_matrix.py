"""Model matrix: list and render three depths of many architectures with random weights (no downloads).

For every architecture: build it with seeded random weights (lite0: its embedded pretrained weights), list its
hookable layers with ``list_layers`` at the render size (fixed-input models: resized to theirs), pick an early,
a middle and a late layer (about 25/50/85% of the layers with a detected layout, preferring block outputs:
modules with children whose parent is a Sequential/ModuleList), and report name, layout, channels and grid. The
channel count is also checked against the block's own last executed weight layer (``out_channels`` /
``out_features`` / ``num_features`` / ``normalized_shape``). Then ``Channel`` and ``Neuron`` (a middle unit) are
rendered at a size that is not the model's native one with the plain ``Renderer`` loop (Fourier, no transforms,
Adam; ReLU gradients redirected for the first half of the steps, ``redirect_relus``) and the start and end
activations recorded; "rises" = end > start + max(0.1 * |start|, 1e-3). Random BatchNorm statistics are first
calibrated on noise images (:func:`calibrate_batchnorm`), as training would set them.

    python scripts/model_matrix.py                      # all architectures -> docs/models.md (between markers)
    python scripts/model_matrix.py --archs resnet18 vit_b_16 --steps 8 --size 96 --out /tmp/models.md
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: short name -> (backbone spec, weights). Random weights (None) everywhere but lite0, whose weights are embedded.
ARCHS: dict[str, tuple[str, str | None]] = {
    "resnet18": ("torchvision:resnet18", None),
    "efficientnet_b0": ("torchvision:efficientnet_b0", None),
    "mobilenet_v3_small": ("torchvision:mobilenet_v3_small", None),
    "regnet_x_400mf": ("torchvision:regnet_x_400mf", None),
    "convnext_tiny": ("torchvision:convnext_tiny", None),
    "swin_t": ("torchvision:swin_t", None),
    "vit_b_16": ("torchvision:vit_b_16", None),
    "deit_tiny": ("timm:deit_tiny_patch16_224", None),
    "convnext_atto": ("timm:convnext_atto", None),
    "vit_tiny": ("timm:vit_tiny_patch16_224", None),
    "clip_vit_b_32": ("open_clip:ViT-B-32", None),
    "lite0": ("lite0", "DEFAULT"),
}
#: a spec not in ARCHS may be given to --archs as is, e.g. lit_actmax.testing:tiny_backbone (random weights).

DEPTHS = (("early", 0.25), ("middle", 0.50), ("late", 0.85))
BEGIN, END = "<!-- model-matrix:begin -->", "<!-- model-matrix:end -->"
EPS = 1e-3


@dataclass
class Row:
    arch: str
    spec: str
    depth: str
    layer: str
    layout: str  # kind, e.g. BCHW / BHWC / BNC:1
    channels: int
    grid: str
    shape: tuple[int, ...]
    true_channels: int | None  # the channel dim of the real activation (layout-free reading of the block)
    unit: int
    results: dict[str, tuple[float, float]] = field(default_factory=dict)  # objective -> (start, end)
    seconds: float = 0.0

    def rises(self, objective: str) -> bool:
        return rises(*self.results[objective])


def rises(start: float, end: float) -> bool:
    return end > start + max(0.1 * abs(start), EPS)


def spec_of(arch: str) -> tuple[str, str | None]:
    return ARCHS.get(arch, (arch, None))


def build(arch: str, seed: int = 0):
    from lit_actmax import load_backbone

    spec, weights = spec_of(arch)
    torch.manual_seed(seed)  # random weights are drawn here: seeded
    backbone = load_backbone(spec, weights=weights)
    if weights is None:
        calibrate_batchnorm(backbone, seed)
    return backbone


@torch.no_grad()
def calibrate_batchnorm(backbone, seed: int, batches: int = 4, size: int = 96) -> None:
    """Random weights with BatchNorm's default statistics (mean 0, variance 1) shrink the signal block after block
    (EfficientNet, MobileNetV3: activations of 1e-13 deep down); set the statistics from a few noise images, as
    training would, then freeze again. Only for randomly initialized models."""
    norms = [m for m in backbone.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    generator = torch.Generator().manual_seed(seed)
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # a cumulative average over the calibration batches
        module.train()
    for _ in range(batches):
        backbone.model(backbone.model_input(torch.rand(8, 3, size, size, generator=generator)))
    backbone.model.eval()


def _block_outputs(model: nn.Module) -> set[str]:
    """Modules with children whose parent is a Sequential/ModuleList (a stage's or a block list's element),
    outermost only: ``layer1.0`` of a ResNet, ``features.3`` of an EfficientNet, ``blocks.5`` of a timm ViT."""
    modules = dict(model.named_modules())
    found: set[str] = set()
    for name, module in modules.items():
        if not name or not any(True for _ in module.children()):
            continue
        parent = modules.get(name.rpartition(".")[0], model)
        if not isinstance(parent, (nn.Sequential, nn.ModuleList)):
            continue
        if any(name.startswith(f"{outer}.") for outer in found):
            continue
        found.add(name)
    return found


def pick_layers(model: nn.Module, infos) -> list[tuple[str, object]]:
    """(depth, LayerInfo) at about 25/50/85% of the layers with a layout; the nearest block output, if any."""
    from lit_actmax.backbones.probe import OUTPUT

    listed = [i for i in infos if i.layout is not None and i.name != OUTPUT and i.calls == 1]
    blocks = _block_outputs(model)
    candidates = [k for k, i in enumerate(listed) if i.name in blocks and i.layout.kind != "BC"]
    if len(candidates) < len(DEPTHS):
        candidates = list(range(len(listed)))
    picked: list[tuple[str, object]] = []
    used: set[int] = set()
    for depth, fraction in DEPTHS:
        target = fraction * (len(listed) - 1)
        free = [k for k in candidates if k not in used] or candidates
        best = min(free, key=lambda k: (abs(k - target), -k))
        used.add(best)
        picked.append((depth, listed[best]))
    return picked


def true_channels(model: nn.Module, layer: str, x: torch.Tensor) -> int | None:
    """The channel count of ``layer``'s output read without layouts: the width of the last weight layer that ran
    inside it (conv ``out_channels``, linear ``out_features``, norm ``num_features`` / ``normalized_shape``)."""
    module = dict(model.named_modules())[layer]
    last: list[int] = []
    handles = []

    def width(m: nn.Module) -> int | None:
        for attr in ("out_channels", "out_features", "num_features"):
            if isinstance(getattr(m, attr, None), int):
                return getattr(m, attr)
        shape = getattr(m, "normalized_shape", None)
        return int(shape[-1]) if shape else None

    for sub in module.modules():
        if width(sub) is not None and not any(True for _ in sub.children()):
            handles.append(sub.register_forward_hook(lambda m, a, o: last.append(width(m))))
    if width(module) is not None and not handles:
        return width(module)
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return last[-1] if last else None


def measure(backbone, layer_info, objective_name: str, unit: int, size: int, steps: int, lr: float, seed: int):
    """Render one image for ``unit`` with the plain Renderer loop -> (start activation, end activation)."""
    from lit_actmax import Channel, Neuron, Renderer
    from lit_actmax.augment import Compose
    from lit_actmax.backbones.redirect import redirect_relus
    from lit_actmax.core.schedule import UnitImage
    from lit_actmax.params import Fourier

    objective = {"Channel": Channel, "Neuron": Neuron}[objective_name](layer_info.name)
    renderer = Renderer(backbone, objective, param=Fourier(), transforms=Compose([]), size=size, steps=steps,
                        seed=seed)
    renderer.validate([unit])
    renderer.attach()
    try:
        renderer.start([UnitImage(unit, 0, True)])
        start = float(renderer.final_images()[1][0])
        # the first half of the steps: gradient through inactive ReLUs, so a unit that starts dead renders
        def redirect(step: int) -> contextlib.AbstractContextManager:
            return redirect_relus(backbone.model) if step < steps // 2 else contextlib.nullcontext()

        end = float(renderer.optimize(steps, lambda params: torch.optim.Adam(params, lr=lr), redirect)[1][0])
    finally:
        renderer.detach()
    return start, end


def run_arch(arch: str, size: int, steps: int, lr: float, seed: int = 0) -> list[Row]:
    from lit_actmax.backbones.probe import list_layers

    spec, _ = spec_of(arch)
    backbone = build(arch, seed)
    x = backbone.model_input(torch.full((1, 3, size, size), 0.5))  # fixed-input models: resized to theirs
    infos = list_layers(backbone.model, x)
    rows = []
    for depth, info in pick_layers(backbone.model, infos):
        t0 = time.perf_counter()
        layout = info.layout
        kind = f"BNC:{layout.special}" if layout.is_tokens else layout.kind
        grid = f"{layout.special}+{layout.grid[0]}x{layout.grid[1]}" if layout.is_tokens else \
            f"{layout.grid[0]}x{layout.grid[1]}"
        row = Row(arch, spec, depth, info.name, kind, layout.channels, grid, tuple(info.shape),
                  true_channels(backbone.model, info.name, x), unit=layout.channels // 2)
        for name in ("Channel", "Neuron"):
            row.results[name] = measure(backbone, info, name, row.unit, size, steps, lr, seed)
        row.seconds = time.perf_counter() - t0
        rows.append(row)
    return rows


def table(rows: list[Row]) -> str:
    head = ("| model | spec | depth | layer | layout | channels | grid | unit | Channel start -> end | rises | "
            "Neuron start -> end | rises |")
    lines = [head, "|" + "|".join(["---"] * 12) + "|"]
    for r in rows:
        cells = [r.arch, f"`{r.spec}`", r.depth, f"`{r.layer}`", r.layout, str(r.channels), r.grid, str(r.unit)]
        for name in ("Channel", "Neuron"):
            s, e = r.results[name]
            cells += [f"{s:.3g} -> {e:.3g}", "yes" if r.rises(name) else "**no**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    n = len(rows)
    up = {name: sum(r.rises(name) for r in rows) for name in ("Channel", "Neuron")}
    ok = sum(r.true_channels in (None, r.channels) for r in rows)
    archs = len({r.arch for r in rows})
    return (f"{archs} architectures, {n} layers: Channel rises on {up['Channel']}/{n}, Neuron on {up['Neuron']}/{n}; "
            f"listed channels match the activation on {ok}/{n}.")


def environment() -> str:
    import torchvision

    versions = [f"torch {torch.__version__}", f"torchvision {torchvision.__version__}"]
    for module in ("timm", "open_clip", "transformers"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except Exception:
            pass
    return (f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
            f"{torch.get_num_threads()} torch threads; " + ", ".join(versions))


def write(out: Path, block: str) -> None:
    """Replace the text between the markers of ``out`` (or create the file with just the block)."""
    text = out.read_text() if out.exists() else f"# Model matrix\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{before}{BEGIN}\n{block}\n{END}{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS),
                        help=f"short names ({', '.join(ARCHS)}) or backbone specs (random weights)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=96, help="image side (not the models' native 224)")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "models.md", help="Markdown file to update")
    args = parser.parse_args(argv)
    from lit_actmax.lightning.quiet import quiet_lightning

    quiet_lightning()
    t0 = time.perf_counter()
    rows: list[Row] = []
    failures: list[str] = []
    for arch in args.archs:
        ta = time.perf_counter()
        try:
            got = run_arch(arch, args.size, args.steps, args.lr, args.seed)
        except Exception as error:  # report and go on: one model's failure must not hide the others
            failures.append(f"{arch}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
            print(f"{arch}: FAILED {failures[-1]}", file=sys.stderr, flush=True)
            continue
        rows += got
        print(f"{arch}: {time.perf_counter() - ta:.1f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    argv_text = " ".join(["python scripts/model_matrix.py", *(argv if argv is not None else sys.argv[1:])])
    block = "\n".join([
        f"Command: `{argv_text}` ({args.steps} Adam steps at lr {args.lr}, {args.size} px, Fourier, no transforms, "
        f"seed {args.seed}); {seconds:.0f} s on {environment()}.",
        "",
        table(rows),
        "",
        summary(rows) + (f" Failed: {'; '.join(failures)}." if failures else ""),
    ])
    print(block)
    write(args.out, block)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
