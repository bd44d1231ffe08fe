"""Benchmark lit_actmax: Lightning overhead, batch scaling, early exit, parameterization cost, GPU speed options.

    python scripts/benchmark.py                       # lite0, 128 px, CPU or the GPU if there is one
    python scripts/benchmark.py --out docs/benchmarks.md

Every timing is the median seconds per optimizer step over ``--steps`` steps (after ``--warmup`` steps), pooled over
``--repeats`` rounds; configurations that are compared are measured alternately within each round, so a load that
changes over time (other jobs on the machine) hits both sides alike. A step's time runs from one step's start to
the next one's, so it includes everything the loop does between steps (for the Trainer: its hooks, logging, the
progress tracking). On CUDA every timestamp is taken after ``torch.cuda.synchronize()``.

Tables: (a) ActMaxModule under the Trainer vs a bare PyTorch loop doing the same forward, backward and optimizer
step; (b) unit-steps per second vs batch size; (c) a shallow layer vs the output layer, and the early exit's
saving; (d) the default parameterization + augmentation vs a bare pixel loop; (e) on CUDA only: bf16-mixed,
channels_last and compile, each on and off.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit, Pixel
from lit_actmax.augment import Compose
from lit_actmax.quiet import quiet_lightning

__all__ = ["Setting", "time_trainer", "time_bare", "main"]


@dataclass
class Setting:
    """One configuration to time: module options, Trainer precision, and whether the probe stops early."""

    label: str
    module: dict[str, Any]
    precision: str = "32-true"
    stop_early: bool = True
    samples: list[float] = field(default_factory=list)  # seconds per step, pooled over rounds
    rounds: list[float] = field(default_factory=list)  # median seconds per step of each round

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def steps_per_second(self) -> float:
        return 1.0 / self.median


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _StepTimer(pl.Callback):
    """Seconds between consecutive ``on_train_batch_start`` calls, after ``warmup`` steps."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.starts = warmup, []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        _sync(pl_module.device)
        self.starts.append(time.perf_counter())

    def durations(self) -> list[float]:
        return [b - a for a, b in zip(self.starts, self.starts[1:])][self.warmup:]


def build_module(options: dict[str, Any], steps: int) -> ActMaxModule:
    return ActMaxModule(**{**options, "steps_per_epoch": steps, "epochs": 1, "save_outputs": False})


def time_trainer(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds per step of ``ActMaxModule`` under ``Trainer.fit`` (one group of units, one epoch)."""
    module = build_module(setting.module, warmup + steps + 1)
    module.renderer.probe.stop_early = setting.stop_early
    timer = _StepTimer(warmup)
    trainer = pl.Trainer(
        accelerator=device.type, devices=1, precision=setting.precision, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        use_distributed_sampler=False, callbacks=[timer],
    )
    trainer.fit(module)
    return timer.durations()


def time_bare(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds per step of a plain PyTorch loop over the same pieces: params -> augment -> probe -> loss, Adam."""
    module = build_module(setting.module, warmup + steps + 1).to(device)
    module.renderer.probe.stop_early = setting.stop_early
    module.renderer.start(module.schedule.groups[0])
    optimizer = module.optimizer_factory(module.renderer.param.parameters())
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if setting.precision == "bf16-mixed"
                else contextlib.nullcontext())
    module.renderer.probe.attach()
    starts = []
    try:
        for step in range(warmup + steps + 1):
            _sync(device)
            starts.append(time.perf_counter())
            with autocast:
                loss = module.renderer.loss(step).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
    finally:
        module.renderer.probe.remove()
    return [b - a for a, b in zip(starts, starts[1:])][warmup:]


Runner = Callable[[Setting, int, int, torch.device], list[float]]


def measure(pairs: list[tuple[Setting, Runner]], args: argparse.Namespace, device: torch.device,
            repeats: int | None = None) -> None:
    """Time every (setting, runner) once per round, in alternating order; pool the samples, keep round medians."""
    for round_index in range(repeats or args.repeats):
        order = pairs if round_index % 2 == 0 else pairs[::-1]
        for setting, runner in order:
            samples = runner(setting, args.steps, args.warmup, device)
            setting.samples.extend(samples)
            setting.rounds.append(statistics.median(samples))
            print(f"  {setting.label}: {1000 * setting.rounds[-1]:.1f} ms/step", file=sys.stderr)


def paired_ratio(fast: Setting, slow: Setting) -> float:
    """Median over rounds of ``fast / slow`` seconds per step, each ratio from one round (robust to load drift)."""
    return statistics.median(f / s for f, s in zip(fast.rounds, slow.rounds))


def _ms(setting: Setting) -> str:
    return f"{1000 * setting.median:.1f}"


def table(header: list[str], rows: Iterator[list[str]] | list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- the tables -----------------------------------------------------------------------------------------------
def base_options(args: argparse.Namespace, batch: int, **extra: Any) -> dict[str, Any]:
    return {"backbone": args.backbone, "objective": ClassLogit(), "units": list(range(batch)), "size": args.size,
            "batch_size": batch, **extra}


def overhead_table(args: argparse.Namespace, device: torch.device, precision: str, extra: dict[str, Any]) -> tuple[str, float]:
    trainer = Setting("Trainer", base_options(args, args.batch, **extra), precision)
    bare = Setting("bare loop", base_options(args, args.batch, **extra), precision)
    measure([(trainer, time_trainer), (bare, time_bare)], args, device, repeats=2 * args.repeats)
    ratio = paired_ratio(bare, trainer)
    rows = [[s.label, _ms(s), f"{s.steps_per_second:.2f}", " ".join(f"{1000 * r:.1f}" for r in s.rounds)]
            for s in (bare, trainer)]
    text = table(["loop", "ms / step (median)", "steps / s", "round medians (ms)"], rows)
    text += (f"\n\nThe Trainer keeps **{100 * ratio:.1f}%** of the bare loop's speed (median over "
             f"{len(trainer.rounds)} rounds of the per-round ratio; pooled medians {_ms(trainer)} vs {_ms(bare)} ms "
             f"per step, {100 * bare.median / trainer.median:.1f}%; target >= 97%).")
    return text, ratio


def batch_table(args: argparse.Namespace, device: torch.device, precision: str, extra: dict[str, Any]) -> str:
    settings = [Setting(f"batch {b}", base_options(args, b, **extra), precision) for b in args.batch_sizes]
    measure([(s, time_trainer) for s in settings], args, device)
    rows = [[str(b), _ms(s), f"{b / s.median:.2f}"] for b, s in zip(args.batch_sizes, settings)]
    return table(["batch size", "ms / step (median)", "unit-steps / s"], rows)


def layer_table(args: argparse.Namespace, device: torch.device, precision: str, extra: dict[str, Any]) -> tuple[str, float]:
    units = list(range(args.batch))
    shallow = {**base_options(args, args.batch, **extra), "objective": Channel(args.shallow_layer), "units": units}
    settings = [
        Setting(f"{args.shallow_layer}, early exit", shallow, precision),
        Setting(f"{args.shallow_layer}, full forward", shallow, precision, stop_early=False),
        Setting("output", base_options(args, args.batch, **extra), precision),
    ]
    measure([(s, time_trainer) for s in settings], args, device)
    early, full, output = settings
    saving = 1 - paired_ratio(early, full)
    rows = [[s.label, _ms(s), f"{s.median / output.median:.2f}"] for s in settings]
    text = table(["target layer", "ms / step (median)", "cost vs output"], rows)
    text += (f"\n\nEarly exit at `{args.shallow_layer}` saves **{100 * saving:.1f}%** of the step time (per-round ratio) "
             f"(median {_ms(early)} vs {_ms(full)} ms with the full forward; the output layer takes {_ms(output)} ms).")
    return text, saving


def param_table(args: argparse.Namespace, device: torch.device, precision: str, extra: dict[str, Any]) -> tuple[str, float]:
    none = Compose([])
    default = Setting("Fourier + Lucid transforms (default), Trainer", base_options(args, args.batch, **extra), precision)
    settings = [
        default,
        Setting("Fourier + Lucid transforms, bare loop", base_options(args, args.batch, **extra), precision),
        Setting("Fourier, no augmentation, bare loop", base_options(args, args.batch, transforms=none, **extra), precision),
        Setting("pixels + Lucid transforms, bare loop", base_options(args, args.batch, param=Pixel(), **extra), precision),
        Setting(f"Fourier + Lucid transforms resized to {args.size} px (input_size), Trainer",
                base_options(args, args.batch, input_size=args.size, **extra), precision),
    ]
    pixel = Setting("pixels, no augmentation, bare loop (reference)",
                    base_options(args, args.batch, param=Pixel(), transforms=none, **extra), precision)
    pairs = [(default, time_trainer)] + [(s, time_bare) for s in settings[1:-1]]
    pairs += [(settings[-1], time_trainer), (pixel, time_bare)]
    measure(pairs, args, device)
    ratio = paired_ratio(pixel, default)
    rows = [[s.label, _ms(s), f"{pixel.median / s.median:.2f}"] for s in [pixel, *settings]]
    text = table(["configuration", "ms / step (median)", "speed vs bare pixel loop"], rows)
    text += (f"\n\nThe default parameterization and augmentation under the Trainer run at **{ratio:.2f}x** the "
             f"bare pixel loop's steps per second (per-round ratio; target >= 0.90).")
    return text, ratio


def gpu_table(args: argparse.Namespace, device: torch.device) -> str:
    rows = []
    for bf16, channels_last, compiled in itertools.product((False, True), repeat=3):
        precision = "bf16-mixed" if bf16 else "32-true"
        extra = {"channels_last": channels_last, "compile": compiled}
        for layer in ("output", args.shallow_layer):
            options = base_options(args, args.gpu_batch, **extra)
            if layer != "output":
                options["objective"] = Channel(layer)
            setting = Setting(f"{layer} bf16={bf16} cl={channels_last} compile={compiled}", options, precision)
            if compiled:
                torch._dynamo.reset()
            measure([(setting, time_trainer)], args, device)
            rows.append([layer, "on" if bf16 else "off", "on" if channels_last else "off", "on" if compiled else "off",
                         _ms(setting), f"{args.gpu_batch / setting.median:.1f}"])
    return table(["target layer", "bf16-mixed", "channels_last", "compile", "ms / step (median)", "unit-steps / s"], rows)


# -- the report -----------------------------------------------------------------------------------------------
def machine(device: torch.device) -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none used"
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores visible, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), pytorch_lightning {pl.__version__}, GPU: {gpu}")


def run_tables(args: argparse.Namespace, device: torch.device, precision: str = "32-true",
               extra: dict[str, Any] | None = None) -> tuple[list[str], dict[str, float]]:
    extra = extra or {}
    sections, numbers = [], {}
    print("(a) Lightning overhead", file=sys.stderr)
    text, numbers["overhead_ratio"] = overhead_table(args, device, precision, extra)
    sections.append(f"### (a) Lightning overhead: Trainer vs bare PyTorch loop (batch {args.batch}, output layer)\n\n{text}")
    print("(b) batch size", file=sys.stderr)
    sections.append(f"### (b) Unit-steps per second vs batch size (output layer)\n\n{batch_table(args, device, precision, extra)}")
    print("(c) layer depth", file=sys.stderr)
    text, numbers["early_exit_saving"] = layer_table(args, device, precision, extra)
    sections.append(f"### (c) Shallow layer vs output layer (batch {args.batch})\n\n{text}")
    print("(d) parameterization", file=sys.stderr)
    text, numbers["param_ratio"] = param_table(args, device, precision, extra)
    sections.append(f"### (d) Default parameterization + augmentation vs bare pixel loop (batch {args.batch}, output)\n\n{text}")
    return sections, numbers


def report(args: argparse.Namespace, argv: list[str]) -> str:
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    command = "python scripts/benchmark.py " + " ".join(argv)
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = [
        f"## Measured {started} on {device.type.upper()}",
        f"Command: `{command.strip()}`  \nMachine: {machine(device)}  \n"
        f"Backbone `{args.backbone}`, {args.size} px, {args.steps} timed steps after {args.warmup} warm-up steps, "
        f"{args.repeats} rounds; medians of seconds per step.",
    ]
    sections, _ = run_tables(args, device)
    if device.type == "cuda":
        print("(e) GPU options", file=sys.stderr)
        sections.append(f"### (e) GPU: bf16-mixed, channels_last, compile (batch {args.gpu_batch})\n\n{gpu_table(args, device)}")
    else:
        sections.append("### (e) GPU: bf16-mixed, channels_last, compile\n\nNot measured: no CUDA device on this "
                        "machine. On a GPU the script measures this table itself.")
    return "\n\n".join(head + sections) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4, help="batch size of tables (a), (c), (d)")
    parser.add_argument("--batch-sizes", default="1,2,4,8", help="batch sizes of table (b)")
    parser.add_argument("--gpu-batch", type=int, default=32, help="batch size of table (e)")
    parser.add_argument("--shallow-layer", default="_blocks.3")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out", default=None,
                        help="also write the report to this markdown file (between its benchmark markers, if any)")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if min([args.steps, args.repeats, args.batch, *args.batch_sizes]) < 1 or args.warmup < 0:
        parser.error("--steps, --repeats and batch sizes must be at least 1, --warmup at least 0.")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*in eval mode.*")
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no "GPU available" banner per fit
    if args.threads:
        torch.set_num_threads(args.threads)
    text = report(args, argv)
    print(text)
    if args.out:
        write_report(Path(args.out), text)
    return 0


START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def write_report(path: Path, text: str) -> None:
    """Write ``text`` between the file's benchmark markers (keeping the prose around them), or as the whole file."""
    block = f"{START}\n{text}{END}\n"
    old = path.read_text() if path.is_file() else ""
    if START in old and END in old:
        before, rest = old.split(START, 1)
        block = before + block + rest.split(END, 1)[1].lstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)


if __name__ == "__main__":
    sys.exit(main())
