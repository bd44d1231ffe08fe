"""Start-up time of the command line: median wall time of ``lit-actmax --help`` and ``lit-actmax layers lite0``.

Compare installs side by side (e.g. before and after a change), interleaving their runs so that the machine's
drift hits them alike::

    python scripts/startup_time.py --exe before=/tmp/before/.venv/bin/lit-actmax --exe after=.venv/bin/lit-actmax

prints a Markdown table: per command, the median (and min-max) seconds of each executable over ``--runs`` runs and
each one's ratio to the first.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS: dict[str, list[str]] = {"--help": ["--help"], "layers lite0": ["layers", "lite0"]}


def wall_time(argv: list[str]) -> float:
    """Seconds one run of ``argv`` takes; its output is discarded; a failing run stops the script."""
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exe", action="append", required=True, metavar="NAME=PATH",
                        help="a lit-actmax executable to time (repeat; the first is the reference)")
    parser.add_argument("--runs", type=int, default=7, help="runs per executable and command (default 7)")
    args = parser.parse_args(argv)
    exes = dict(item.split("=", 1) for item in args.exe)
    for name, path in exes.items():
        if not Path(path).is_file():
            parser.error(f"--exe {name}={path}: no such file; give the path of an installed lit-actmax.")
    times: dict[tuple[str, str], list[float]] = {(c, n): [] for c in COMMANDS for n in exes}
    for command, extra in COMMANDS.items():
        for path in exes.values():  # one warm-up each: the first run of a fresh install reads cold files
            wall_time([path, *extra])
        for _ in range(args.runs):
            for name, path in exes.items():
                times[command, name].append(wall_time([path, *extra]))
    reference = next(iter(exes))
    names = list(exes)
    print(f"| command | {' | '.join(f'{n} median s (min-max)' for n in names)} | "
          f"{' | '.join(f'{n} / {reference}' for n in names[1:])} |")
    print("|---" * (1 + 2 * len(names) - 1) + "|")
    for command in COMMANDS:
        medians = {n: statistics.median(times[command, n]) for n in names}
        cells = [f"{medians[n]:.2f} ({min(times[command, n]):.2f}-{max(times[command, n]):.2f})" for n in names]
        ratios = [f"{medians[n] / medians[reference]:.0%}" for n in names[1:]]
        print(f"| `lit-actmax {command}` | {' | '.join(cells)} | {' | '.join(ratios)} |")
    print(f"\n{args.runs} runs each after one warm-up, interleaved; Python {sys.version.split()[0]}.")


if __name__ == "__main__":
    main()
