"""Benchmark lit_actmax: Lightning overhead, batch scaling, early exit, parameterization cost, GPU speed options,
and whole layers: batched units against one unit at a time.

    python scripts/benchmark.py                       # lite0, 128 px, CPU or the GPU if there is one
    python scripts/benchmark.py --out docs/benchmarks.md
    python scripts/benchmark.py --table whole-layer --threads 1 --out docs/benchmarks.md
    python scripts/benchmark.py --table resnet50-layer4 --units 0-255    # units per GPU-hour, peak memory
    python scripts/benchmark.py --table lite0-atlas                      # every lite0 block and class, one run
    python scripts/benchmark.py --table resnet50-layer4 --smoke          # the same code, tiny, on the CPU
    bash scripts/gpu_tables.sh OUT_DIR                # every GPU table in one command, within a time budget

Every timing is the median seconds per optimizer step over ``--steps`` steps (after ``--warmup`` steps), pooled over
``--repeats`` rounds; configurations that are compared are measured alternately within each round, so a load that
changes over time (other jobs on the machine) hits both sides alike. A step's time runs from one step's start to
the next one's, so it includes everything the loop does between steps (for the Trainer: its hooks, logging, the
progress tracking). On CUDA every timestamp is taken after ``torch.cuda.synchronize()``.

Tables: (a) ActMaxModule under the Trainer vs a bare PyTorch loop doing the same forward, backward and optimizer
step; (b) unit-steps per second vs batch size; (c) a shallow layer vs the output layer, and the early exit's
saving; (d) the default parameterization + augmentation vs a bare pixel loop; (e) on CUDA only: bf16-mixed,
channels_last and compile, each on and off.

Whole-unit tables (``--table``, each its own report): every unit is rendered to the end (``--unit-steps`` steps
each), timed as a whole: the backbone's loading (once per run) and every image's and optimizer's set-up included;
the rows run alternately, once per round, and report the median seconds, units per hour (per GPU-hour on CUDA),
the mean final activation (so no row is faster by drawing worse images) and the ratio to the one-unit-at-a-time
loop of the peers (lucent, MACO, torch-dreams): a fresh image and optimizer per unit, the plain ``Renderer``
with one unit per group. ``whole-layer``: all channels of one lite0 layer (``--layer``), ``ActMaxModule`` through
the Trainer with a batch of units and with ``LargestBatch``, against that loop and a fresh Trainer per unit.
``resnet50-layer4``: a random-weight torchvision ResNet-50's ``layer4`` (2048 channels; ``--units``) in fp32,
bf16-mixed, channels_last, compile and all three, with peak memory. ``lite0-atlas``: every lite0 block's channels
and the 1000 classes in one run (``units={layer or pattern: selection}``). ``--smoke`` runs any of them tiny on
the CPU (what the tests run).

CPU tables (issue 27; run them on an otherwise idle machine):

    python scripts/benchmark.py --table floor --size 224 --batch 8 --device cpu      # default step vs the model alone
    python scripts/benchmark.py --table busy-cpu --size 224 --batch 8 --device cpu   # a competing busy process

``floor``: per unit-step seconds of the default method (plain ``Renderer`` loop, pinned numerics) against a bare
forward+backward of the backbone on inputs of the very sizes the default step fed it (the ``RandomCrop`` windows,
recorded from the same steps), each default step followed at once by the bare step at its size, so that both of
a pair see the machine alike; the floor ratio is the median over steps of bare / default (goal >= 0.85).
``busy-cpu``: the default step in a fresh process per measurement, with OpenMP's default wait policy (spinning) and
with ``OMP_WAIT_POLICY=PASSIVE``, on the idle machine and beside a process that keeps every core busy with matmuls;
medians, each policy's busy / idle ratio (goal <= 2) and passive's idle cost.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import gc
import inspect
import itertools
import json
import logging
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit, Pixel
from lit_actmax.augment import Compose, lucid_transforms
from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.probe import list_layers
from lit_actmax.callbacks import ActMaxCallback, LargestBatch
from lit_actmax.core.numerics import PINNED, Numerics
from lit_actmax.core.renderer import Renderer
from lit_actmax.core.schedule import UnitImage
from lit_actmax.core.units import parse_units
from lit_actmax.lightning.quiet import quiet_lightning
from lit_actmax.params import Fourier
from lit_actmax.run.records import FinishedUnits

__all__ = ["Setting", "RenderResult", "time_trainer", "time_bare", "render_with_trainer", "render_plain_loop",
           "render_one_at_a_time", "main"]

#: A unit of a run: (target, unit id); the target is the layer's index in a run of units across layers (else 0).
UnitKey = tuple[int, int]


@dataclass
class RenderResult:
    """What one whole-units run left behind (its last round): seconds and images of each group, each unit's final
    activation, the batch size it ran with, and the peak CUDA memory (None on the CPU)."""

    groups: list[tuple[float, int]] = field(default_factory=list)  # (seconds, saved images) per group
    activations: dict[UnitKey, float] = field(default_factory=dict)
    batch_size: int = 0
    peak_bytes: int | None = None

    @property
    def images(self) -> int:
        return sum(n for _, n in self.groups)

    def steady_units_per_second(self) -> float | None:
        """Units per second of the groups after the first (which pays compilation, autotuning, caches); None with
        a single group."""
        rest = self.groups[1:]
        seconds = sum(t for t, _ in rest)
        return sum(n for _, n in rest) / seconds if rest and seconds > 0 else None


@dataclass
class Setting:
    """One configuration to time: module options, Trainer precision, and whether the probe stops early."""

    label: str
    module: dict[str, Any]
    precision: str = "32-true"
    stop_early: bool = True
    samples: list[float] = field(default_factory=list)  # seconds per step (whole-units runs: per run), pooled
    rounds: list[float] = field(default_factory=list)  # median seconds per step of each round (per run)
    callbacks: tuple[Callable[[], pl.Callback], ...] = ()  # factories of extra Trainer callbacks, one set per run
    result: RenderResult | None = None  # whole-units runs: the last round's groups, activations, memory
    failure: str | None = None  # whole-units runs: why the row has no numbers (an error, the time budget)

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
    """The module of ``options`` for one epoch of ``steps`` steps, saving nothing; torch's global generator is seeded
    first, so a random-weight backbone (``weights=None``) is the same network in every run."""
    torch.manual_seed(0)
    # every row runs at this process's thread count (--threads), not the module's pinned one
    numerics = Numerics(threads=torch.get_num_threads())
    # the method the tables name and were measured with: Lucid's (Fourier, Lucid's transforms, Adam 0.05), stated
    # here because the library's default became the natural method of issue 17
    method = {"param": Fourier(), "transforms": lucid_transforms(), "optimizer": functools.partial(torch.optim.Adam, lr=0.05)}
    return ActMaxModule(**{"numerics": numerics, **method, **options, "steps_per_epoch": steps, "epochs": 1,
                           "save_outputs": False})


def make_trainer(device: torch.device, precision: str, callbacks: list[pl.Callback]) -> pl.Trainer:
    """A quiet one-device Trainer: no logger, checkpoints, progress bar or summary."""
    return pl.Trainer(
        accelerator=device.type, devices=1, precision=precision, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        use_distributed_sampler=False, callbacks=callbacks,
    )


def autocast_for(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The autocast a bare loop needs to match the Trainer's ``precision`` (bf16-mixed; else none)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16-mixed" else contextlib.nullcontext()


def time_trainer(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds per step of ``ActMaxModule`` under ``Trainer.fit`` (one group of units, one epoch)."""
    module = build_module(setting.module, warmup + steps + 1)
    module.renderer.probe.stop_early = setting.stop_early
    timer = _StepTimer(warmup)
    make_trainer(device, setting.precision, [timer]).fit(module)
    return timer.durations()


def time_bare(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds per step of a plain PyTorch loop over the same pieces: params -> augment -> probe -> loss, Adam."""
    module = build_module(setting.module, warmup + steps + 1).to(device)
    module.renderer.probe.stop_early = setting.stop_early
    module.renderer.start(module.schedule.groups[0])
    optimizer = module.optimizer_factory(module.renderer.param.parameters())
    autocast = autocast_for(setting.precision, device)
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


class OutOfTime(Exception):
    """SIGTERM (``timeout``'s signal) during a whole-units table: the runs left are skipped and the table is written
    with what was measured."""


def stop_on_sigterm() -> None:
    """Turn the first SIGTERM into :class:`OutOfTime` (a second one ends the process as usual)."""
    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise OutOfTime("the time limit (SIGTERM) stopped it")

    signal.signal(signal.SIGTERM, handler)


def failure_text(error: Exception) -> str:
    return f"failed: {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"


def skip_unmeasured(settings: list[Setting], reason: str) -> None:
    """Mark every setting without samples or failure as skipped for ``reason``."""
    for setting in settings:
        if not setting.samples and setting.failure is None:
            setting.failure = f"skipped: {reason}"


def measure(pairs: list[tuple[Setting, Runner]], args: argparse.Namespace, device: torch.device,
            repeats: int | None = None, steps: int | None = None, per_run: bool = False,
            deadline: float | None = None) -> None:
    """Time every (setting, runner) once per round, in alternating order; pool the samples, keep round medians.

    ``steps``: steps the runner takes (default ``--steps``). ``per_run``: the runners return one sample, the seconds
    of a whole run; a run that raises marks its setting failed instead of stopping the others, settings already
    failed are left out, and :class:`OutOfTime` skips the runs left. ``deadline`` (``time.monotonic()``): runs that
    would start after it are skipped.
    """
    settings = [setting for setting, _ in pairs]
    for round_index in range(repeats or args.repeats):
        order = pairs if round_index % 2 == 0 else pairs[::-1]
        for setting, runner in order:
            if per_run and setting.failure is not None:
                continue
            if deadline is not None and time.monotonic() > deadline:
                skip_unmeasured(settings, "time budget (--budget-s) spent")
                print("  time budget spent: the runs left are skipped", file=sys.stderr)
                return
            try:
                samples = runner(setting, steps or args.steps, args.warmup, device)
            except OutOfTime:
                if not per_run:
                    raise
                setting.failure = "stopped: time limit (SIGTERM)"
                skip_unmeasured(settings, "time limit (SIGTERM)")
                print("  time limit: the runs left are skipped", file=sys.stderr)
                return
            except Exception as error:  # noqa: BLE001 -- one failing row must not cost the other rows' numbers
                if not per_run:
                    raise
                setting.failure = failure_text(error)
                print(f"  {setting.label}: {setting.failure}", file=sys.stderr)
                continue
            setting.samples.extend(samples)
            setting.rounds.append(statistics.median(samples))
            shown = f"{setting.rounds[-1]:.1f} s" if per_run else f"{1000 * setting.rounds[-1]:.1f} ms/step"
            print(f"  {setting.label}: {shown}", file=sys.stderr)


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
    default = Setting("Fourier + Lucid transforms, Trainer", base_options(args, args.batch, **extra), precision)
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


# -- whole units: batched against one unit at a time ----------------------------------------------------------
class PeakMemory:
    """Context manager: the peak CUDA memory allocated inside it (``.bytes``; None on the CPU, which has no counter)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.bytes = device, None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.bytes = torch.cuda.max_memory_allocated(self.device)


def record_activations(into: dict[UnitKey, float], items: list[UnitImage] | tuple[UnitImage, ...],
                       activations: torch.Tensor) -> None:
    """Keep the final activation of each saved image of a group, keyed by (target, unit)."""
    for item, activation in zip(items, activations.float().tolist()):
        if item.saved:
            into[(getattr(item, "target", 0), item.unit)] = activation


class UnitRecorder(ActMaxCallback):
    """Seconds and saved images of each group (from its images' start to its final images), and each saved unit's
    final activation."""

    def __init__(self) -> None:
        self.groups: list[tuple[float, int]] = []
        self.activations: dict[UnitKey, float] = {}
        self._started = 0.0

    def on_units_started(self, trainer: pl.Trainer, pl_module: ActMaxModule, items: Any) -> None:
        _sync(pl_module.device)
        self._started = time.perf_counter()

    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        _sync(pl_module.device)
        targets = getattr(finished, "targets", None) or [0] * len(finished.units)
        items = [UnitImage(*fields) for fields in zip(finished.units, finished.variants, finished.valid, targets)]
        self.groups.append((time.perf_counter() - self._started, sum(item.saved for item in items)))
        record_activations(self.activations, items, finished.activations)


def _reset_compiled(options: dict[str, Any]) -> None:
    """Forget earlier compiled graphs before a compiled run, so each such run pays (and shows) its compilation."""
    if options.get("compile"):
        torch._dynamo.reset()


def render_with_trainer(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """``ActMaxModule`` as users run it: built (backbone loaded) and fitted by a Trainer over all the setting's
    units in groups of its batch size (a callback such as ``LargestBatch`` may change it). Returns the seconds of the
    whole run; ``setting.result`` gets its groups, activations and peak memory."""
    _reset_compiled(setting.module)
    recorder = UnitRecorder()
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        module = build_module(setting.module, steps)
        make_trainer(device, setting.precision, [recorder, *(make() for make in setting.callbacks)]).fit(module)
        _sync(device)
        seconds = time.perf_counter() - start
    setting.result = RenderResult(recorder.groups, recorder.activations, module.schedule.batch_size, peak.bytes)
    return [seconds]


def render_plain_loop(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """The plain ``Renderer`` loop of the README over the setting's units in groups of its ``batch_size`` (default
    1): per group a fresh image and optimizer, ``steps`` steps (``setting.precision`` by autocast), the final images.
    Returns the seconds of the whole loop, the backbone's loading included; ``setting.result`` gets the rest."""
    _reset_compiled(setting.module)
    batch_size = int(setting.module.get("batch_size", 1))
    result = RenderResult(batch_size=batch_size)
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        module = build_module({**setting.module, "batch_size": batch_size}, steps).to(device)
        renderer = module.renderer
        renderer.attach(module.compile_options)
        try:
            for group in module.schedule.groups:
                began = time.perf_counter()
                renderer.start(group)
                _, activations = renderer.optimize(steps, module.optimizer_factory,
                                                   lambda step: autocast_for(setting.precision, device))
                _sync(device)
                result.groups.append((time.perf_counter() - began, sum(item.saved for item in group)))
                record_activations(result.activations, group, activations)
        finally:
            renderer.detach()
        _sync(device)
        seconds = time.perf_counter() - start
    result.peak_bytes = peak.bytes
    setting.result = result
    return [seconds]


def render_one_at_a_time(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """The peers' loop (lucent, MACO, torch-dreams render one unit per call): :func:`render_plain_loop` with one
    unit per group, so each unit gets a fresh image and optimizer and the same parameterization, transforms,
    objective, steps and seed as in a batch."""
    single = dataclasses.replace(setting, module={**setting.module, "batch_size": 1}, samples=[], rounds=[])
    seconds = render_plain_loop(single, steps, warmup, device)
    setting.result = single.result
    return seconds


def render_trainer_per_unit(setting: Setting, steps: int, warmup: int, device: torch.device) -> list[float]:
    """lit_actmax driven the peers' way: a fresh ``ActMaxModule`` (backbone loaded again) and Trainer per unit."""
    result = RenderResult(batch_size=1)
    start = time.perf_counter()
    for unit in setting.module["units"]:
        one = dataclasses.replace(setting, module={**setting.module, "units": [unit], "batch_size": 1}, samples=[],
                                  rounds=[], result=None)
        seconds = render_with_trainer(one, steps, warmup, device)[0]
        assert one.result is not None
        result.groups.append((seconds, one.result.images))
        result.activations.update(one.result.activations)
        if one.result.peak_bytes is not None:
            result.peak_bytes = max(one.result.peak_bytes, result.peak_bytes or 0)
    setting.result = result
    return [time.perf_counter() - start]


def warm_up(pairs: list[tuple[Setting, Runner]], device: torch.device) -> None:
    """Run each setting once on its first unit for 2 steps, untimed (lazy imports, allocator and kernel caches), so
    the first timed run is not the only one paying them; compiled settings and selections per layer are left out."""
    for setting, runner in pairs:
        units = setting.module.get("units")
        if setting.failure is not None or setting.module.get("compile") or not isinstance(units, list):
            continue
        probe = dataclasses.replace(setting, module={**setting.module, "units": units[:1]}, samples=[], rounds=[],
                                    result=None)
        try:
            runner(probe, 2, 0, device)
        except OutOfTime:
            skip_unmeasured([s for s, _ in pairs], "time limit (SIGTERM)")
            return
        except Exception as error:  # noqa: BLE001 -- reported in the table as the row's failure
            setting.failure = failure_text(error)
            print(f"  {setting.label}: {setting.failure}", file=sys.stderr)


def units_per_hour(setting: Setting) -> float:
    """Units rendered per hour by the median whole run of ``setting``."""
    assert setting.result is not None
    return 3600 * setting.result.images / setting.median


def _rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def units_table(reference: Setting, rows: list[Setting], device: torch.device, gpu_columns: bool) -> str:
    """The whole-units table: the reference loop first, then ``rows``; ``gpu_columns`` adds units per hour after the
    first group (compilation and autotuning excluded) and the peak memory."""
    per = "GPU-hour" if device.type == "cuda" else "hour"
    header = ["how", "units", "batch", "seconds (median)", f"units / {per}"]
    if gpu_columns:
        header += [f"units / {per} after the first group", "peak memory (GiB)"]
    header += ["mean final activation", "ratio to one unit at a time"]
    base = units_per_hour(reference) if reference.samples and reference.result else None
    lines = []
    for setting in [reference, *rows]:
        label = setting.label + (f" ({setting.failure})" if setting.failure else "")
        if not setting.samples or setting.result is None:
            lines.append([label, *["-"] * (len(header) - 1)])
            continue
        result, rate = setting.result, units_per_hour(setting)
        seconds = f"{setting.median:.1f}" if setting.median >= 1 else f"{setting.median:.3f}"
        line = [label, str(result.images), str(result.batch_size), seconds, _rate(rate)]
        if gpu_columns:
            steady = result.steady_units_per_second()
            memory = f"{result.peak_bytes / 2**30:.2f}" if result.peak_bytes is not None else "n/a (CPU)"
            line += [_rate(3600 * steady if steady is not None else None), memory]
        mean = statistics.fmean(result.activations.values()) if result.activations else float("nan")
        line += [f"{mean:.3f}", f"{rate / base:.2f}" if base else "-"]
        lines.append(line)
    return table(header, lines)


def agreement(reference: Setting, rows: list[Setting]) -> str:
    """One sentence per row: the mean final activation on the units it shares with the reference, both ways, and the
    largest per-unit difference (the images are seeded per unit, so batching alone should not change them)."""
    if reference.result is None:
        return "No final activations to compare: the one-unit loop did not run."
    sentences = []
    for setting in rows:
        if setting.result is None:
            continue
        common = sorted(set(setting.result.activations) & set(reference.result.activations))
        if not common:
            continue
        mine = [setting.result.activations[key] for key in common]
        theirs = [reference.result.activations[key] for key in common]
        largest = max(abs(a - b) for a, b in zip(mine, theirs))
        sentences.append(f"{setting.label}: {statistics.fmean(mine):.3f} vs {statistics.fmean(theirs):.3f} on "
                         f"{len(common)} shared units (largest per-unit difference {largest:.3g})")
    return ("Mean final activation against the one-unit loop on the same units: " + "; ".join(sentences) + "."
            if sentences else "No units shared with the one-unit loop to compare.")


def whole_units_section(title: str, reference: Setting, runs: list[tuple[Setting, Runner]], args: argparse.Namespace,
                        device: torch.device, gpu_columns: bool) -> str:
    """Measure the reference (the one-unit loop) and the ``runs`` (setting, runner) alternately, after a warm-up,
    once per round, within ``--budget-s``; return the titled table with the ratio and the final activations'
    agreement."""
    deadline = time.monotonic() + args.budget_s if args.budget_s else None
    pairs = [(reference, render_one_at_a_time), *runs]
    rows = [setting for setting, _ in runs]
    if args.warm_up:
        warm_up(pairs, device)
    measure([(s, r) for s, r in pairs if s.failure is None], args, device, steps=args.unit_steps, per_run=True,
            deadline=deadline)
    text = f"{title}\n\n{units_table(reference, rows, device, gpu_columns)}"
    measured = [s for s in rows if s.samples and s.result is not None]
    if reference.samples and reference.result is not None and measured:
        best = max(measured, key=units_per_hour)
        per_round = [(r / reference.result.images) / (b / best.result.images)  # type: ignore[union-attr]
                     for r, b in zip(reference.rounds, best.rounds)]
        ratio = units_per_hour(best) / units_per_hour(reference)
        text += (f"\n\nFastest of the other rows: {best.label}, **{ratio:.2f}x** the units per "
                 f"{'GPU-' if device.type == 'cuda' else ''}hour of the one-unit loop (per round: "
                 f"{', '.join(f'{r:.2f}' for r in per_round)}).")
    return text + "\n\n" + agreement(reference, rows)


def _settings_line(args: argparse.Namespace, extra: str = "") -> str:
    return (f"{args.size} px, {args.unit_steps} steps per unit, Fourier + Lucid transforms, Adam 0.05, "
            f"{args.repeats} round(s), variants alternating{extra}")


def layer_channels(backbone: str, layers: list[str], size: int, weights: str | None = "DEFAULT") -> dict[str, int]:
    """The channel (unit) count of each of ``layers`` ('output': the classes) from one dry run at ``size``."""
    model = load_backbone(backbone, weights=weights).model
    infos = list_layers(model, torch.zeros(1, 3, size, size), include=layers)
    return {info.name: info.layout.channels if info.layout is not None else info.shape[0] for info in infos}


def whole_layer_table(args: argparse.Namespace, device: torch.device) -> str:
    """All channels of one layer of ``--backbone``: ActMaxModule + Trainer (batches ``--layer-batch`` and the one
    ``LargestBatch`` picks) against the one-unit loop and a fresh Trainer per unit."""
    units = parse_units(args.units) if args.units else list(range(layer_channels(args.backbone, [args.layer],
                                                                                  args.size)[args.layer]))
    options = {"backbone": args.backbone, "objective": Channel(args.layer), "units": units, "size": args.size}
    loop_units = units[: args.loop_units] if args.loop_units else units
    reference = Setting("one unit at a time: plain Renderer loop, fresh image + optimizer per unit (the peers' way)",
                        {**options, "units": loop_units})
    runs: list[tuple[Setting, Runner]] = [
        (Setting(f"lit_actmax: ActMaxModule + Trainer, batch {args.layer_batch}",
                 {**options, "batch_size": args.layer_batch}), render_with_trainer),
        (Setting("lit_actmax: ActMaxModule + Trainer + LargestBatch", {**options, "batch_size": 1},
                 callbacks=(LargestBatch,)), render_with_trainer),
    ]
    if args.plain_loop_batch:
        runs.append((Setting(f"plain Renderer loop, batch {args.plain_loop_batch} (no Trainer)",
                             {**options, "batch_size": args.plain_loop_batch}), render_plain_loop))
    if args.trainer_per_unit:
        runs.append((Setting(f"one unit at a time: a fresh ActMaxModule + Trainer per unit (first {args.trainer_per_unit})",
                             {**options, "units": units[: args.trainer_per_unit]}), render_trainer_per_unit))
    channels = f"{len(units)} channels" if not args.units else f"units {args.units}"
    title = (f"### Whole layer: `{args.layer}` of `{args.backbone}`, {channels}, one run "
             f"({device.type.upper()})\n\n{_settings_line(args)}.")
    return whole_units_section(title, reference, runs, args, device, gpu_columns=device.type == "cuda")


#: (label, Trainer precision, channels_last, compile) of the speed-option rows, most wanted first (the time budget
#: skips from the end).
SPEED_OPTIONS = [
    ("fp32", "32-true", False, False),
    ("bf16-mixed", "bf16-mixed", False, False),
    ("channels_last", "32-true", True, False),
    ("bf16-mixed + channels_last", "bf16-mixed", True, False),
    ("bf16-mixed + channels_last + compile", "bf16-mixed", True, True),
    ("compile", "32-true", False, True),
]


def speed_option_runs(options: dict[str, Any], args: argparse.Namespace, device: torch.device,
                      labels: list[str] | None = None) -> list[tuple[Setting, Runner]]:
    """One Trainer run per speed option of :data:`SPEED_OPTIONS` (those in ``labels`` in that order, default all);
    compiled rows only on CUDA (compiling takes minutes on a CPU)."""
    by_label = {option[0]: option for option in SPEED_OPTIONS}
    runs: list[tuple[Setting, Runner]] = []
    for label, precision, channels_last, compiled in [by_label[label] for label in labels or by_label]:
        setting = Setting(f"lit_actmax, batch {args.layer_batch}: {label}",
                          {**options, "batch_size": args.layer_batch, "channels_last": channels_last,
                           "compile": compiled}, precision)
        if compiled and device.type != "cuda":
            setting.failure = "skipped: compile rows run on CUDA only"
        runs.append((setting, render_with_trainer))
    return runs


def resnet_layer4_table(args: argparse.Namespace, device: torch.device) -> str:
    """Units per GPU-hour and peak memory of a random-weight torchvision ResNet-50's ``layer4`` (``--units``) with
    each speed option, against the one-unit loop (fp32) on the first ``--loop-units``."""
    units = parse_units(args.units)
    options = {"backbone": "torchvision:resnet50", "weights": None, "objective": Channel("layer4"), "units": units,
               "size": args.size}
    reference = Setting(f"one unit at a time: plain Renderer loop, fp32 (first {args.loop_units} units)",
                        {**options, "units": units[: args.loop_units]})
    runs = speed_option_runs(options, args, device)
    note = "; compiled rows include their compilation, the column after the first group does not"
    title = (f"### ResNet-50 `layer4` (random weights), units {args.units} ({device.type.upper()})\n\n"
             f"{_settings_line(args, note)}.")
    return whole_units_section(title, reference, runs, args, device, gpu_columns=True)


def layer_selection_support() -> str | None:
    """None if ``ActMaxModule`` takes units per layer (``{layer or pattern: selection}``), else why it does not."""
    annotation = str(inspect.signature(ActMaxModule.__init__).parameters["units"].annotation)
    if "dict" in annotation or "Mapping" in annotation or "LayerSelection" in annotation:
        return None
    return f"ActMaxModule(units=...) takes `{annotation}`, not a mapping of layers to units yet"


def sample_selection(selection: dict[str, Any], backbone: str, size: int, stride: int) -> dict[str, list[int]]:
    """Every ``stride``-th unit of each layer of ``selection`` (patterns resolved), so a slow loop over the sample
    has about the atlas's mix of shallow and deep layers."""
    from lit_actmax.core.layer_selection import resolve_units, select_layers

    model = load_backbone(backbone).model
    infos = list_layers(model, torch.zeros(1, 3, size, size))
    channels = {i.name: i.layout.channels if i.layout is not None else i.shape[0] for i in infos}
    chosen = select_layers(selection, [i.name for i in infos])
    return {layer: resolve_units(layer, units, channels.get(layer))[::stride] for layer, units in chosen}


def atlas_table(args: argparse.Namespace, device: torch.device) -> str:
    """A whole lite0 atlas in one run (``--atlas``: ``{layer or pattern: units}``, objective per layer chosen
    automatically): units per GPU-hour and peak memory, against the one-unit loop on every ``--loop-stride``-th unit."""
    selection = json.loads(args.atlas)
    title = f"### Atlas of `{args.backbone}`: units {json.dumps(selection)} in one run ({device.type.upper()})"
    missing = layer_selection_support()
    if missing is not None:
        print(f"  skipped: {missing}", file=sys.stderr)
        return f"{title}\n\nskipped: {missing}."
    options = {"backbone": args.backbone, "units": selection, "size": args.size}
    sample = sample_selection(selection, args.backbone, args.size, args.loop_stride)
    every = f"units 0, {args.loop_stride}, {2 * args.loop_stride}, ... of each layer"
    reference = Setting(f"one unit at a time: plain Renderer loop, fp32, {every}",
                        {**options, "units": sample})
    runs = speed_option_runs(options, args, device, ["bf16-mixed + channels_last", "fp32"])
    return whole_units_section(f"{title}\n\n{_settings_line(args)}.", reference, runs, args, device, gpu_columns=True)


#: ``--table`` -> the function that measures it (``standard``: tables (a)-(e)).
# -- the CPU tables: the model's own cost, a busy machine (issue 27) ---------------------------------------------
def default_step_times(args: argparse.Namespace, steps: int, warmup: int,
                       after_step: Callable[[torch.Size], None] | None = None) -> list[float]:
    """Seconds of each of ``steps`` default-method steps (plain ``Renderer`` loop, ``--batch`` units at ``--size``,
    pinned numerics) after ``warmup`` steps; ``after_step(shape)`` runs after each timed step, untimed, with the
    backbone input shape of that step."""
    renderer = Renderer(load_backbone(args.backbone), size=args.size, steps=warmup + steps)
    renderer.validate([0])
    renderer.attach()
    shapes: list[torch.Size] = []
    hook = renderer.backbone.register_forward_pre_hook(lambda module, inputs: shapes.append(inputs[0].shape))
    renderer.start([UnitImage(unit, 0, True) for unit in range(args.batch)])
    optimizer = torch.optim.Adam(renderer.param.parameters(), lr=0.02)
    times = []
    try:
        for step in range(warmup + steps):
            began = time.perf_counter()
            optimizer.zero_grad()
            renderer.loss(step).loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - began)
            if after_step is not None and step >= warmup:
                after_step(shapes[-1])
    finally:
        hook.remove()
        renderer.detach()
    return times[warmup:]


def bare_step_time(model: torch.nn.Module, shape: torch.Size) -> float:
    """Seconds of a bare forward+backward (to the input) of ``model`` on a random input of ``shape``."""
    began = time.perf_counter()
    x = torch.rand(shape, requires_grad=True)
    model(x)[:, 0].sum().backward()
    return time.perf_counter() - began


def floor_table(args: argparse.Namespace, device: torch.device) -> str:
    """The default step against the model's own cost at the same view sizes (see the module docstring)."""
    steps, warmup = (2, 1) if args.smoke else (args.steps, args.warmup)
    model = load_backbone(args.backbone).model
    default, bare = [], []
    with PINNED.pinned():
        for _ in range(args.repeats):
            default += default_step_times(args, steps, warmup, lambda shape: bare.append(bare_step_time(model, shape)))
    per_unit = [1000 * statistics.median(t) / args.batch for t in (default, bare)]
    paired = statistics.median(b / d for b, d in zip(bare, default))
    rows = [["default method (plain Renderer loop)", f"{per_unit[0]:.1f}"],
            ["bare forward+backward, same input sizes", f"{per_unit[1]:.1f}"]]
    return (f"### Floor: the default step vs the model alone ({args.backbone}, {args.size} px, batch {args.batch})\n\n"
            + table(["step", "ms per unit-step (median)"], rows)
            + f"\n\nFloor ratio (bare / default, median over steps of each step's pair): **{paired:.2f}** (goal >= "
              f"0.85); ratio of the medians {per_unit[1] / per_unit[0]:.2f}. {args.repeats} rounds of {steps} steps, each "
              f"default step followed at once by a bare step at its input size; threads {PINNED.threads_for()}.")


#: The competing process of ``busy-cpu``: float32 matmuls on every core until it is stopped.
BUSY_LOOP = ("import os, torch; torch.set_num_threads(os.cpu_count() or 1); a = torch.rand(512, 512)\n"
             "while True: a = (a @ a).clamp_(0, 1)")
#: The wait policies ``busy-cpu`` compares, as the variables each sets: OpenMP's default (spinning), passive, and
#: libgomp's shorter spins before sleeping (torch's Linux wheels use GNU OpenMP).
WAIT_POLICIES: dict[str, dict[str, str]] = {
    "spin (OpenMP default)": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"}, "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
}
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")


def child_step_times(args: argparse.Namespace, policy: dict[str, str], busy: bool) -> list[float]:
    """The default step's seconds in a fresh process with the variables ``policy`` sets (none of the user's wait
    variables kept) beside ``BUSY_LOOP`` if ``busy``."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}
    env.update(policy)
    steps, warmup = (2, 1) if args.smoke else (args.steps, args.warmup)
    command = [sys.executable, __file__, "--child-step-times", "--backbone", args.backbone, "--size", str(args.size),
               "--batch", str(args.batch), "--steps", str(steps), "--warmup", str(warmup)]
    competitor = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=3600)
    finally:
        if competitor is not None:
            competitor.terminate()
            competitor.wait()
    return json.loads(done.stdout.strip().splitlines()[-1])


def busy_cpu_table(args: argparse.Namespace, device: torch.device) -> str:
    """Spinning vs passive waiting, idle and beside a busy process (see the module docstring)."""
    times: dict[tuple[str, bool], list[float]] = {(name, busy): [] for name in WAIT_POLICIES for busy in (False, True)}
    for _ in range(args.repeats):
        for (name, busy), seconds in times.items():
            seconds += child_step_times(args, WAIT_POLICIES[name], busy)
    ms = {key: 1000 * statistics.median(seconds) / args.batch for key, seconds in times.items()}
    rows = [[name, f"{ms[name, False]:.1f}", f"{ms[name, True]:.1f}", f"{ms[name, True] / ms[name, False]:.2f}x"]
            for name in WAIT_POLICIES]
    spin, passive, *_ = WAIT_POLICIES
    return (f"### A busy CPU: the default step beside a process on every core ({args.backbone}, {args.size} px, "
            f"batch {args.batch})\n\n"
            + table(["wait policy", "idle ms per unit-step", "busy ms per unit-step", "busy / idle"], rows)
            + f"\n\nPassive waiting's idle cost: **{ms[passive, False] / ms[spin, False]:.2f}x** spinning's; busy / "
              f"idle goal <= 2. Medians over {args.repeats} rounds, a fresh process per measurement.")


WHOLE_UNIT_TABLES: dict[str, Callable[[argparse.Namespace, torch.device], str]] = {
    "whole-layer": whole_layer_table,
    "resnet50-layer4": resnet_layer4_table,
    "lite0-atlas": atlas_table,
    "floor": floor_table,
    "busy-cpu": busy_cpu_table,
}


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


def pick_device(args: argparse.Namespace) -> torch.device:
    """``--device``; ``auto``: CUDA if there is one (not under ``--smoke``)."""
    auto_cuda = args.device == "auto" and torch.cuda.is_available() and not args.smoke
    return torch.device("cuda" if args.device == "cuda" or auto_cuda else "cpu")


def block_name(args: argparse.Namespace) -> str:
    """The name of the report's markers: ``standard``, or the table's, with ``-gpu`` when measured on CUDA and
    ``-smoke`` under ``--smoke`` (so ``--merge`` never puts smoke numbers into the documented blocks)."""
    if args.table == "standard":
        return "standard"
    return args.table + ("-gpu" if pick_device(args).type == "cuda" else "") + ("-smoke" if args.smoke else "")


def report(args: argparse.Namespace, argv: list[str]) -> str:
    device = pick_device(args)
    command = "python scripts/benchmark.py " + " ".join(argv)
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    if args.table in WHOLE_UNIT_TABLES:
        print(args.table, file=sys.stderr)
        stop_on_sigterm()
        title, body = WHOLE_UNIT_TABLES[args.table](args, device).split("\n\n", 1)
        return (f"{title}\n\nMeasured {started} on {device.type.upper()}. Command: `{command.strip()}`  \n"
                f"Machine: {machine(device)}\n\n{body}\n")
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
    whole = parser.add_argument_group("whole-units tables (--table other than standard)")
    whole.add_argument("--table", choices=["standard", *WHOLE_UNIT_TABLES], default="standard",
                       help="standard: tables (a)-(e); the others: one whole-units table each")
    whole.add_argument("--layer", default="_blocks.3", help="whole-layer: the layer whose channels are rendered")
    whole.add_argument("--units", default=None,
                       help="unit selection (whole-layer: default every channel; resnet50-layer4: default 0-255)")
    whole.add_argument("--atlas", default=None, help="lite0-atlas: JSON {layer or pattern: units} "
                       f"(default {ATLAS!r})")
    whole.add_argument("--unit-steps", type=int, default=None, help="optimizer steps per unit (default per table)")
    whole.add_argument("--layer-batch", type=int, default=None, help="batch size of the batched rows (default per table)")
    whole.add_argument("--loop-units", type=int, default=None,
                       help="the one-unit loop renders the first N units only (default: whole-layer all, else 16)")
    whole.add_argument("--loop-stride", type=int, default=64, help="lite0-atlas: the loop renders every Nth unit per layer")
    whole.add_argument("--trainer-per-unit", type=int, default=None,
                       help="whole-layer: units of the fresh-Trainer-per-unit row (0: leave it out; default 8)")
    whole.add_argument("--plain-loop-batch", type=int, default=0,
                       help="whole-layer: also the plain Renderer loop with this batch size (0: not), to tell what "
                       "batching gives from what the Trainer costs")
    whole.add_argument("--budget-s", type=float, default=None, help="skip the runs that would start after this many seconds")
    whole.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=True,
                       help="an untimed 2-step run of each row before the timed rounds")
    parser.add_argument("--merge", nargs="+", default=None, metavar="MD",
                        help="copy the named blocks of these reports (gpu_tables.sh's OUT/*.md) into --out, measure nothing")
    parser.add_argument("--child-step-times", action="store_true", help=argparse.SUPPRESS)  # busy-cpu's measurement
    whole.add_argument("--smoke", action="store_true",
                       help="tiny settings on the CPU (64 px, 2 units, 2 steps, 1 round; no compile): the code path only")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    for name, value in TABLE_DEFAULTS.get(args.table, {}).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name, value in (SMOKE if args.smoke else {}).items():
        setattr(args, name, value)
    if min([args.steps, args.repeats, args.batch, *args.batch_sizes]) < 1 or args.warmup < 0:
        parser.error("--steps, --repeats and batch sizes must be at least 1, --warmup at least 0.")
    if args.table in TABLE_DEFAULTS and min(args.unit_steps, args.layer_batch, args.loop_units or 1, args.loop_stride) < 1:
        parser.error("--unit-steps, --layer-batch, --loop-units and --loop-stride must be at least 1.")
    return args


#: The full lite0 atlas: every channel of every block and every class.
ATLAS = '{"_blocks.*": "all", "output": "all"}'
#: Defaults of the whole-units tables (an option given on the command line wins).
TABLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "whole-layer": {"unit_steps": 48, "layer_batch": 8, "trainer_per_unit": 8},
    "resnet50-layer4": {"unit_steps": 128, "layer_batch": 128, "units": "0-255", "loop_units": 16},
    "lite0-atlas": {"unit_steps": 128, "layer_batch": 256, "atlas": ATLAS},
}
#: ``--smoke``: tiny settings over any option given (the code path only; numbers mean nothing).
SMOKE: dict[str, Any] = {
    "size": 64, "unit_steps": 2, "units": "0-1", "loop_units": 2, "layer_batch": 2, "trainer_per_unit": 1,
    "repeats": 1, "warm_up": False, "loop_stride": 2, "atlas": '{"_blocks.3": "0-1", "output": "0-1"}',
}


def main(argv: list[str] | None = None) -> int:
    """Run the tables of ``argv``; the process's Lightning log level and thread count come back as they were (tests
    call this in their own process)."""
    lightning_logger = logging.getLogger("pytorch_lightning")
    level, threads = lightning_logger.level, torch.get_num_threads()
    try:
        return run_command(list(sys.argv[1:] if argv is None else argv))
    finally:
        lightning_logger.setLevel(level)
        torch.set_num_threads(threads)


def run_command(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.child_step_times:  # one busy-cpu measurement: the step's seconds as JSON, nothing else
        with PINNED.pinned():
            print(json.dumps(default_step_times(args, args.steps, args.warmup)))
        return 0
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*in eval mode.*")
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no "GPU available" banner per fit
    if args.merge:
        if not args.out:
            raise SystemExit("benchmark.py: --merge needs --out (the markdown file to copy the blocks into)")
        names = merge_reports(Path(args.out), [Path(source) for source in args.merge])
        print(f"copied {', '.join(names) or 'no blocks'} into {args.out}")
        return 0 if names else 1
    if args.threads:
        torch.set_num_threads(args.threads)
    text = report(args, argv)
    print(text)
    if args.out:
        write_report(Path(args.out), text, block_name(args))
    return 0


#: A block of a report in a markdown file: its name and its text.
BLOCK = re.compile(r"<!-- benchmark:([\w.-]+):start -->\n(.*?)<!-- benchmark:\1:end -->", re.S)


def merge_reports(out: Path, sources: list[Path]) -> list[str]:
    """Copy every named block of ``sources`` (e.g. gpu_tables.sh's files) into ``out``, between the same markers;
    returns the names copied."""
    names = []
    for source in sources:
        for name, text in BLOCK.findall(source.read_text()):
            write_report(out, text, name)
            names.append(name)
    return names


def markers(table: str) -> tuple[str, str]:
    """The markers of ``table``'s block in a markdown file (the standard tables keep the plain ones)."""
    name = "" if table == "standard" else f":{table}"
    return f"<!-- benchmark{name}:start -->", f"<!-- benchmark{name}:end -->"


def write_report(path: Path, text: str, table: str = "standard") -> None:
    """Write ``text`` between the file's markers of ``table`` (keeping the prose around them), as a new block at the
    end of the file if it has none, or as the whole file if there is none."""
    start, end = markers(table)
    block = f"{start}\n{text}{end}\n"
    old = path.read_text() if path.is_file() else ""
    if start in old and end in old:
        before, rest = old.split(start, 1)
        after = rest.split(end, 1)[1]
        block = before + block + after.removeprefix("\n")  # the rest of the file as it was after the end marker
    elif old:
        block = old.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)


if __name__ == "__main__":
    sys.exit(main())
