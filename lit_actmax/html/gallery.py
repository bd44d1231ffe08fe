"""A static HTML gallery of a run, ``<run_dir>/gallery.html``, that opens straight from the file system.

Per layer (in model order) a grid of unit cards; per unit what :func:`lit_actmax.html.unit_card.unit_view` draws:
its image(s) (all variants), every image file its record lists under ``files`` (GIF, transparency/alpha map, best
image, ...) when the file exists, its activation curve as inline SVG, its dataset examples
(``examples/<layer>/examples.json``, see :mod:`lit_actmax.lightning.dataset_examples`) and its numbers (activation,
judge and diversity metrics). The run's settings and run-level metrics head the page. Cards sort by unit or
activation (buttons, or ``gallery.html#sort=-activation`` in the address) and filter by unit id or label, with a few
lines of inline JavaScript (no server, no network). The style is the site's (:mod:`lit_actmax.html.style`), inlined.

    lit-actmax gallery RUN_DIR        # rebuild after adding dataset examples, or for a crashed run (from records)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from ..errors import ConfigError
from ..run.files import atomic_write_text, layer_folder
from ..run.storage import AnyPath, Location, location
from .card_sorting import CARD_SCRIPT, card_data, sort_bar
from .markup import RunFiles, config_details, escape, format_value, metrics_table, settings_spans
from .records import Unit, group_units, load_examples, load_run, run_settings
from .style import STYLE
from .unit_card import CARD_SIZES, unit_view

__all__ = ["build_gallery", "gallery_command"]


def _card(unit: Unit, examples: dict[str, Any] | None, files: RunFiles, lazy: bool) -> str:
    """One unit's card: its id, label and best activation over :func:`unit_view` at :data:`CARD_SIZES`."""
    activation = unit.activation
    incomplete = f'<div class="incomplete">incomplete: only {unit.incomplete}</div>' if unit.incomplete else ""
    return (f'<div class="card" {card_data(unit)}>'
            f'<div class="head"><b>{unit.unit}</b> {escape(unit.label)}<span class="act" '
            f'title="final activation (best variant)">{format_value(activation) if activation is not None else "–"}'
            f"</span></div>{incomplete}{unit_view(unit, examples, files, files.run_dir, CARD_SIZES, lazy)}</div>")


def build_gallery(run_dir: AnyPath, out: str = "gallery.html", lazy_above: int = 200) -> Location:
    """Write ``run_dir/out`` from the run's ``index.json`` (or its per-unit records); returns its path.

    Images load lazily when the run has more than ``lazy_above`` images. ``run_dir`` may be an fsspec URL.
    """
    run_dir = location(run_dir, "run_dir")
    index, records = load_run(run_dir)
    files = RunFiles(run_dir)
    lazy = len(records) > lazy_above
    examples = load_examples(run_dir)
    layers = group_units(index, records)

    title = f"{index.get('backbone', run_dir.name)} · {index.get('objective', '')}"
    index_link = ' <a href="index.json">index.json</a>' if files.exists("index.json") else ""
    layer_links = "".join(f'<a href="#layer-{escape(layer_folder(layer))}">{escape(layer)}</a>' for layer in layers)
    body = [f"<header><h1>{escape(title)}</h1>"
            f'<div class="meta">{settings_spans(run_settings(run_dir, index, records))}{index_link}</div>'
            f"{config_details(index)}</header>",
            sort_bar(sum(len(units) for units in layers.values()), layer_links), "<main>"]
    metrics = metrics_table(index)
    if metrics:
        body.append(f"<h2>Run metrics</h2>{metrics}")
    for layer, units in layers.items():
        source = examples.get(layer)
        per_unit = (source or {}).get("units", {})
        grid = (index.get("grids") or {}).get(layer)
        link = f' · <a href="{files.url(grid, run_dir)}">grid</a>' if files.exists(grid) else ""
        note = (f" · dataset examples from {escape(source.get('images'))} images of {escape(source.get('folder'))}"
                if source else "")
        cards = "".join(_card(unit, per_unit.get(str(unit.unit)), files, lazy) for unit in units)
        body.append(f'<section id="layer-{escape(layer_folder(layer))}"><h2>{escape(layer)} — {len(units)} units'
                    f'{link}{note}</h2><div class="grid">{cards}</div></section>')
    body.append("</main>")
    document = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{escape(title)}</title><style>{STYLE}</style><script>{CARD_SCRIPT}</script></head>"
                f"<body>{''.join(body)}</body></html>\n")
    path = run_dir / out
    atomic_write_text(path, document)
    return path


def gallery_command(argv: Sequence[str]) -> int:
    """``lit-actmax gallery RUN_DIR [RUN_DIR ...]``: (re)build each run's ``gallery.html``."""
    parser = argparse.ArgumentParser(prog="lit-actmax gallery", description=(
        "Write RUN_DIR/gallery.html: every unit's image, GIF, transparency map, activation curve, dataset examples "
        "and metrics; open it in a browser straight from the disk. A folder of runs (version_*) gets one per run."))
    parser.add_argument("run_dirs", nargs="+", help="run directories (or folders holding version_* runs)")
    args = parser.parse_args(list(argv))
    try:
        for run_dir in (location(d, "RUN_DIR") for d in args.run_dirs):
            runs = [run_dir] if (run_dir / "index.json").is_file() or any(run_dir.glob("images/*/unit_*.json")) \
                else sorted(p for p in run_dir.glob("version_*") if p.is_dir())
            if not runs:
                raise ConfigError(f"{str(run_dir)!r} is not a run directory (no index.json, no unit records, "
                                  "no version_* folders); give e.g. actmax_runs/lite0/version_0.")
            for run in runs:
                print(build_gallery(run).resolve().as_uri())
    except (FileNotFoundError, ValueError) as error:
        print(f"lit-actmax gallery: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(gallery_command(sys.argv[1:]))
