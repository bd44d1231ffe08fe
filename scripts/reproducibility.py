"""What stays the same across process counts, batch sizes and thread counts, and what pinned numerics cost.

    python scripts/reproducibility.py                                   # the quickstart as it is (~25 min, 2 cores)
    python scripts/reproducibility.py --size 64 --steps-per-epoch 8 --epochs 3 --units 130,1,9,207   # ~5 min

(a) Images: ``lit-actmax fit --config configs/quickstart.yaml`` (with the overrides given) is run as a user runs it,
once per row, and each row's PNGs are compared with its reference row's: the largest pixel difference (0-255) and
the share of differing pixel values. Rows: 1 vs 2 CPU processes (``--trainer.devices 2 --trainer.strategy
unit_parallel``), batch 8 vs 3, pinned numerics (the default, ``model.numerics``: 2 threads per process,
deterministic algorithms, no TF32) and not (``--model.numerics null``: Lightning gives each of N processes
``cores / N`` threads), and one thread per process (``--model.numerics.threads 1``) on 1 and 2 processes. The wall
seconds of each row are the cost of its mode (2 processes with 2 threads each share the 2 cores of this machine).

(b) Speed, in this process, with the same settings: seconds per optimizer step of the quickstart's renderer (8
class images, its transforms) under pinned numerics, ``Numerics(threads=<cores>)`` and none; the modes are measured
alternately within each of ``--repeats`` rounds (other jobs on the machine hit all alike); medians and the ratio
to the unpinned speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
TWO = ["--trainer.devices", "2", "--trainer.strategy", "unit_parallel"]
UNPINNED = ["--model.numerics", "null"]
#: (name, extra CLI arguments, the row it is compared with)
B3 = ["--model.batch_size", "3"]
ONE_THREAD = ["--model.numerics.threads", "1"]
ROWS: list[tuple[str, list[str], str | None]] = [
    ("pinned, 1 process, batch 8", [], None),
    ("pinned, 2 processes, batch 8", TWO, "pinned, 1 process, batch 8"),
    ("pinned, 1 process, batch 3", B3, "pinned, 1 process, batch 8"),
    ("pinned, 2 processes, batch 3", [*B3, *TWO], "pinned, 1 process, batch 8"),
    ("unpinned, 1 process, batch 8", UNPINNED, "pinned, 1 process, batch 8"),
    ("unpinned, 2 processes, batch 8", [*UNPINNED, *TWO], "unpinned, 1 process, batch 8"),
    ("threads 1, 1 process, batch 8", ONE_THREAD, "pinned, 1 process, batch 8"),
    ("threads 1, 2 processes, batch 8", [*ONE_THREAD, *TWO], "threads 1, 1 process, batch 8"),
]


def command() -> list[str]:
    script = Path(sys.executable).parent / "lit-actmax"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lit_actmax"]


def render(name: str, extra: list[str], overrides: list[str], out: Path) -> tuple[dict[str, np.ndarray], float]:
    """Run the quickstart with ``overrides + extra`` into ``out/<name>``; its PNGs by unit file name, and seconds."""
    run_name = name.replace(", ", "_").replace(" ", "")
    args = [*command(), "fit", "--config", str(QUICKSTART), *overrides, *extra, "--model.out_dir", str(out),
            "--model.run_name", run_name, "--trainer.enable_progress_bar", "false"]
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{' '.join(args)}\n{result.stderr[-3000:]}")
    run = next((out / run_name).iterdir())
    pngs = sorted((run / "images").rglob("unit_*.png"))
    return {p.name: np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in pngs}, seconds


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[int, float]:
    """The largest pixel difference (0-255) over the units both have, and the share of differing values."""
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    diffs = [np.abs(a[k] - b[k]) for k in a]
    return int(max(d.max() for d in diffs)), float(np.mean([(d > 0).mean() for d in diffs]))


def images_table(overrides: list[str], rows: list[str] | None) -> list[str]:
    lines = ["| run | compared with | largest pixel difference (0-255) | differing values | wall s |",
             "|---|---|---:|---:|---:|"]
    done: dict[str, dict[str, np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra, reference in ROWS:
            if rows and name not in rows and not any(name == ROWS_BY_NAME[r][2] for r in rows):
                continue
            done[name], seconds = render(name, extra, overrides, Path(tmp))
            if reference is None:
                lines.append(f"| {name} | - | - | - | {seconds:.0f} |")
            elif reference in done:
                largest, share = compare(done[reference], done[name])
                lines.append(f"| {name} | {reference} | {largest} | {100 * share:.1f}% | {seconds:.0f} |")
            print(lines[-1], flush=True)
    return lines


ROWS_BY_NAME = {name: (name, extra, reference) for name, extra, reference in ROWS}


def speed_table(size: int, steps: int, repeats: int) -> list[str]:
    """Seconds per step of the quickstart's renderer under each numerics mode, measured alternately."""
    from lit_actmax import ClassLogit, Fourier, Renderer, UnitSchedule, load_backbone
    from lit_actmax.augment import lucid_multicrop_transforms
    from lit_actmax.core.numerics import Numerics

    cores = torch.get_num_threads()
    modes = {"pinned (default: 2 threads)": Numerics(), "threads 1, deterministic": Numerics(threads=1),
             f"unpinned ({cores} threads)": None}
    schedule = UnitSchedule(units=[130, 1, 9, 207, 309, 417, 504, 947], batch_size=8, epochs=1,
                            steps_per_epoch=steps)
    renderer = Renderer(load_backbone("lite0"), ClassLogit("output"), param=Fourier(), size=size,
                        transforms=lucid_multicrop_transforms(), steps=steps)
    renderer.attach()
    times: dict[str, list[float]] = {m: [] for m in modes}
    for round_ in range(repeats):
        order = list(modes) if round_ % 2 == 0 else list(reversed(modes))
        for mode in order:
            numerics = modes[mode]
            state = numerics.apply() if numerics is not None else None
            try:
                renderer.start(schedule.groups[0])
                optimizer = torch.optim.Adam(renderer.param.parameters(), lr=0.05)
                stamps = []
                for step in range(steps + 1):  # the first step warms up
                    stamps.append(time.perf_counter())
                    optimizer.zero_grad()
                    renderer.loss(step % steps).loss.backward()
                    optimizer.step()
                stamps.append(time.perf_counter())
                times[mode] += list(np.diff(stamps[1:]))
            finally:
                if state is not None:
                    state.restore()
    renderer.detach()
    base = statistics.median(times[f"unpinned ({cores} threads)"])
    lines = [f"| numerics ({size} px, batch 8, 2 crops) | s per step (median) | vs unpinned |", "|---|---:|---:|"]
    for mode, values in times.items():
        median = statistics.median(values)
        lines.append(f"| {mode} | {median:.3f} | {median / base:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=None, help="model.size (default: the quickstart's 128)")
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--units", default=None, help="model.units, e.g. 130,1,9,207 (default: the quickstart's 8)")
    parser.add_argument("--rows", nargs="*", default=None, help="only these image rows (and their references)")
    parser.add_argument("--speed-steps", type=int, default=8, help="timed steps per mode and round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the speed measurement")
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    overrides = []
    for key, value in (("size", args.size), ("steps_per_epoch", args.steps_per_epoch), ("epochs", args.epochs),
                       ("units", f"[{args.units}]" if args.units else None)):
        if value is not None:
            overrides += [f"--model.{key}", str(value)]
    print(f"torch {torch.__version__}, CPU {torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} cores; "
          f"quickstart with {' '.join(overrides) or 'no overrides'}", flush=True)
    if not args.skip_images:
        print("\n".join(images_table(overrides, args.rows)), flush=True)
    if not args.skip_speed:
        print("\n".join(speed_table(args.size or 128, args.speed_steps, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
