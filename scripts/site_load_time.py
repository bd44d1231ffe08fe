"""How fast the atlas site opens: a synthetic 5,000-unit run, its site, load times in headless Chromium.

    python scripts/site_load_time.py                      # 5 layers x 1,000 units, 5 loads per page, medians
    python scripts/site_load_time.py --layers 2 --units 50 --runs 1

The run is written directly (records, small PNGs and index.json in the run folder format of lit_actmax.run.writer), not
rendered. Each page is loaded from file:// in a fresh Chromium profile; the time is the page's own
``data-load-ms`` (navigation start to the load event, lit_actmax.html.site.LOAD_TIME_SCRIPT). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper, also when this file is loaded by path
from headless_chromium import LAZY_LOADING, dump_dom, find_browser, load_ms  # noqa: E402

from lit_actmax.html.site import build_site, layer_page, unit_page  # noqa: E402
from lit_actmax.image.io import save_png  # noqa: E402
from lit_actmax.run.files import safe_name, write_json  # noqa: E402
from lit_actmax.run.records import INDEX_FORMAT, UnitRecord, image_stem  # noqa: E402

__all__ = ["write_synthetic_atlas", "measure", "interaction", "main"]


def _pattern(unit: int, layer: int, size: int) -> np.ndarray:
    """A (size, size, 3) uint8 image: a per-unit colour and stripe frequency, different for every unit."""
    rng = np.random.default_rng(layer * 100_003 + unit)
    y, x = np.mgrid[0:size, 0:size] / size
    angle, frequency = rng.uniform(0, math.pi), rng.uniform(2, 9)
    wave = 0.5 + 0.5 * np.sin(2 * math.pi * frequency * (x * math.cos(angle) + y * math.sin(angle)))
    colour_a, colour_b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    return (wave[..., None] * colour_a + (1 - wave[..., None]) * colour_b).astype(np.uint8)


def write_synthetic_atlas(run_dir: Path, layers: int = 5, units: int = 1000, size: int = 64, seed: int = 0,
                          index: bool = True) -> list[str]:
    """Write a run folder of ``layers`` x ``units`` records with small PNGs (``size`` px) into ``run_dir``, as an
    atlas run would: ``images/<layer>/unit_*.png|json`` and (``index``) ``index.json``. Layer names are
    ``_blocks.0``, ``_blocks.2``, ..., the last one ``output`` (classes, with labels). Returns the layer names."""
    rng = np.random.default_rng(seed)
    names = [f"_blocks.{2 * i}" for i in range(layers - 1)] + ["output"]
    records = []
    for number, layer in enumerate(names):
        classes = layer == "output"
        objective = f"ClassLogit({layer})" if classes else f"Channel({layer})"
        for unit in range(units):
            image = f"images/{safe_name(layer)}/{image_stem(unit)}.png"
            save_png(run_dir / image, _pattern(unit, number, size))
            curve = np.cumsum(rng.uniform(0, 1, 16)) * rng.uniform(0.2, 2)
            record = UnitRecord(
                unit=unit, variant=0, layer=layer, objective=objective, activation=float(curve[-1]), seed=unit,
                base_seed=seed, image=image, size=[size, size], rank=0, steps=128,
                extras={"best_step": int(rng.integers(64, 128)), "best_activation": float(curve.max()),
                        "activation_curve": {"values": [float(v) for v in curve], "steps_per_point": 8}},
                label=f"class_{unit}" if classes else None).to_json()
            write_json(run_dir / image.replace(".png", ".json"), record)
            records.append(record)
    if index:
        write_json(run_dir / "index.json", {
            "format": INDEX_FORMAT, "backbone": "synthetic", "objective": "several", "regularizers": [],
            "layers": names, "param": "Fourier()", "size": [size, size], "steps_per_unit": 128, "seed": seed,
            "world_size": 1, "config": {}, "grids": {}, "units": records})
    return names


def measure(browser: str, page: Path, runs: int, profiles: Path, lazy: bool = True) -> list[float]:
    """``runs`` load times (ms) of ``page``, each in a fresh browser profile; ``lazy``: with lazy loading on (as in a
    desktop browser), else every image loads before the load event (headless Chromium's default)."""
    times = []
    for run in range(runs):
        profile = profiles / f"{page.stem}_{run}_{time.monotonic_ns()}"
        value = load_ms(dump_dom(browser, page, profile, *([LAZY_LOADING] if lazy else [])))
        if value is None:
            raise RuntimeError(f"{page} wrote no data-load-ms: is it a lit_actmax site page?")
        times.append(value)
    return times


#: Loads a layer page in a frame, then times sorting by activation and filtering (each with the layout it causes).
_HARNESS = """<!DOCTYPE html><html><body><iframe id="page" src="{url}" width="1280" height="900"></iframe><script>
document.getElementById('page').addEventListener('load',function(){{var w=this.contentWindow,d=w.document,
h=document.documentElement;function time(name,action){{var t=performance.now();action();d.body.offsetHeight;
h.setAttribute('data-'+name,(performance.now()-t).toFixed(1));}}
time('sort',function(){{w.sortCards('activation',-1);}});time('filter',function(){{w.filterCards('class_1');}});
time('unfilter',function(){{w.filterCards('');}});h.setAttribute('data-first',d.querySelector('.card').dataset.unit);}});
</script></body></html>"""


def interaction(browser: str, page: Path, runs: int, profiles: Path) -> dict[str, list[float]]:
    """Times (ms, ``runs`` each) of sorting a layer page's cards by activation, filtering them by a label and
    clearing the filter, measured in the browser with the page in a frame."""
    harness = profiles / "harness.html"
    harness.parent.mkdir(parents=True, exist_ok=True)
    harness.write_text(_HARNESS.format(url=page.resolve().as_uri()))
    found: dict[str, list[float]] = {"sort": [], "filter": [], "unfilter": []}
    for run in range(runs):
        profile = profiles / f"harness_{run}_{time.monotonic_ns()}"
        dom = dump_dom(browser, harness, profile, LAZY_LOADING, "--allow-file-access-from-files")
        for name, values in found.items():
            match = re.search(rf'<html[^>]*\sdata-{name}="([0-9.]+)"', dom)
            if match is None:
                raise RuntimeError(f"the harness measured no {name} time on {page}")
            values.append(float(match.group(1)))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--units", type=int, default=1000, help="units per layer")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--runs", type=int, default=5, help="loads per page (the median is reported)")
    parser.add_argument("--out", default=None, help="keep the run here (default: a temporary folder)")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("site_load_time: no chromium (scripts/ensure_chromium.sh installs it); nothing measured.",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as temporary:
        run_dir = Path(args.out or temporary) / "run"
        profiles = Path(temporary) / "profiles"
        start = time.perf_counter()
        names = write_synthetic_atlas(run_dir, args.layers, args.units, args.size)
        generated = time.perf_counter() - start
        start = time.perf_counter()
        model_page = build_site(run_dir)
        built = time.perf_counter() - start
        start = time.perf_counter()
        build_site(run_dir)
        rebuilt = time.perf_counter() - start
        site = model_page.parent
        layer = site / layer_page(names[-1])
        pages = [("model page", model_page), (f"layer page ({args.units} units)", layer),
                 ("unit page", site / unit_page(names[-1], args.units // 2))]
        print(f"{args.layers} layers x {args.units} units = {args.layers * args.units} units ({args.size} px PNGs): "
              f"generated in {generated:.1f} s; site built in {built:.1f} s, rebuilt with nothing new in "
              f"{rebuilt:.1f} s\n")
        print(f"`python scripts/site_load_time.py --layers {args.layers} --units {args.units} --runs {args.runs}`: "
              f"load event (ms from navigation start, the page's data-load-ms) from file://, median of {args.runs} "
              "loads, each in a fresh headless Chromium profile; lazy loading on as in a desktop browser, and off "
              "(every image loaded before the load event)\n")
        print("| page | HTML | load, lazy loading on: median (min - max) | load, every image: median (min - max) |")
        print("|---|---|---|---|")
        for name, page in pages:
            lazy = measure(browser, page, args.runs, profiles)
            eager = measure(browser, page, args.runs, profiles, lazy=False)
            print(f"| {name} | {page.stat().st_size / 1024:.0f} KiB | {_summary(lazy)} | {_summary(eager)} |")
        times = interaction(browser, layer, args.runs, profiles)
        print(f"\nlayer page of {args.units} cards, in the browser (ms, median (min - max), layout included): "
              f"sort by activation {_summary(times['sort'])}, filter by label {_summary(times['filter'])}, "
              f"clear the filter {_summary(times['unfilter'])}")
    return 0


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f} - {max(values):.0f})"


if __name__ == "__main__":
    sys.exit(main())
