"""A static HTML gallery of a run, ``<run_dir>/gallery.html``, that opens straight from the file system.

Per layer a grid of unit cards; per unit its image(s) (all variants), every image file its record lists under
``files`` (GIF, transparency/alpha map, best image, ...) when the file exists, its activation curve as inline SVG,
its dataset examples (``examples/<layer>/examples.json``, see :mod:`lit_actmax.lightning.dataset_examples`) and its numbers
(activation, judge and diversity metrics). The run's settings and run-level metrics head the page. Cards sort by
unit or activation (buttons, or ``gallery.html#sort=-activation`` in the address) and filter by unit id or label,
with a few lines of inline JavaScript (no server, no network).

    lit-actmax gallery RUN_DIR        # rebuild after adding dataset examples, or for a crashed run (from records)
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from ..errors import ConfigError
from ..run.writer import atomic_write_text, iter_records, read_json, record_is_complete, safe_name, strict_json

__all__ = ["build_gallery", "gallery_command", "curve_svg", "referenced_files", "IMAGE_SUFFIXES", "escape",
           "incomplete_steps", "file_url", "format_value", "curve_values", "flat_numbers", "load_examples", "load_run",
           "ordered_files", "is_alpha_file", "run_settings", "metrics_table", "record_numbers",
           "SKIP_NUMBER_KEYS", "CARD_SCRIPT"]

IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".webp", ".svg")

#: Record keys shown apart from a unit's table of numbers (or not worth showing).
SKIP_NUMBER_KEYS = {"unit", "variant", "layer", "objective", "seed", "base_seed", "image", "size", "rank", "steps",
                    "files", "activation_curve", "label", "activation"}


def escape(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def file_url(relative: str) -> str:
    """A relative file path (``../images/a b/unit_00001.png``) as a URL-quoted relative URL."""
    return quote(Path(relative).as_posix(), safe="/")


def format_value(value: Any) -> str:
    """A record value for display: floats to 4 significant digits, NaN as '–', booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def curve_svg(values: Sequence[float], width: int = 150, height: int = 44, steps_per_point: int = 1) -> str:
    """An inline SVG line of ``values`` (one per epoch or step) with its first and last value, or '' if empty."""
    points = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not points:
        return ""
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    pad = 3
    n = len(points)
    xy = [(pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5),
           pad + (height - 2 * pad) * (1 - (v - low) / span)) for i, v in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    title = (f"activation during optimization: {points[0]:.3g} to {points[-1]:.3g} "
             f"(max {high:.3g}) over {n * steps_per_point} steps")
    return (f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img"><title>{escape(title)}</title>'
            f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="#ccc"/>'
            f'<polyline fill="none" stroke="#d9480f" stroke-width="1.5" points="{path}"/>'
            f'<circle cx="{xy[-1][0]:.1f}" cy="{xy[-1][1]:.1f}" r="2" fill="#d9480f"/></svg>')


def curve_values(record: dict[str, Any]) -> tuple[list[float], int]:
    """A record's curve as (values, steps per point): ``{"values", "steps_per_point"}`` or ``{"value", "step"}``."""
    curve = record.get("activation_curve")
    if not isinstance(curve, dict):
        return [], 1
    values = curve.get("values", curve.get("value", []))
    steps = curve.get("steps_per_point")
    if steps is None and isinstance(curve.get("step"), list) and len(curve["step"]) > 1:
        steps = max(1, round((curve["step"][-1] - curve["step"][0]) / (len(curve["step"]) - 1)))
    return [v for v in values if isinstance(v, (int, float))], int(steps or 1)


def flat_numbers(data: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, scalar) pairs of a nested dict; lists and per-unit tables are skipped."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key not in ("per_unit", "units"):
                yield from flat_numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, (int, float, str, bool)):
        yield prefix, data


def record_numbers(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """(name, scalar) of a record's numbers: its activation, then callbacks' fields (``best_step``, metrics, ...) as
    dotted keys; the fields in :data:`SKIP_NUMBER_KEYS` are left out."""
    numbers: list[tuple[str, Any]] = [("activation", record.get("activation"))]
    for key, value in record.items():
        if key not in SKIP_NUMBER_KEYS:
            numbers.extend(flat_numbers({key: value}))
    return numbers


def load_examples(run_dir: Path) -> dict[str, dict[str, Any]]:
    """{layer: examples.json} of every ``examples/*/examples.json`` in the run."""
    found = {}
    for path in sorted(run_dir.glob("examples/*/examples.json")):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        found[str(data.get("layer", path.parent.name))] = data
    return found


def incomplete_steps(records: Sequence[dict[str, Any]]) -> str:
    """``"40 of 96 steps"`` when an image of ``records`` (a unit's) had fewer steps than the run's (a group cut short
    by ``max_steps``/``max_time``; ``steps_done`` in its record), else ''."""
    short = [r for r in records if not record_is_complete(r)]
    return f"{min(r['steps_done'] for r in short)} of {short[0]['steps']} steps" if short else ""


def load_run(run_dir: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run's ``index.json`` ({} when there is none yet) and its unit records: the index's ``units`` and every record
    ``images/*/unit_*.json`` it does not list (a run still going, or continued with more units or layers).
    A :class:`~lit_actmax.errors.ConfigError` when there are none."""
    run_dir = Path(run_dir)
    index_path = run_dir / "index.json"
    index: dict[str, Any] = read_json(index_path) if index_path.is_file() else {}
    records = list(index.get("units") or [])
    listed = {Path(str(r.get("image"))).with_suffix(".json").as_posix() for r in records}
    if any(p.relative_to(run_dir).as_posix() not in listed for p in run_dir.glob("images/*/unit_*.json")):
        records += [r for r in iter_records(run_dir)
                    if Path(str(r.get("image"))).with_suffix(".json").as_posix() not in listed]
    if not records:
        raise ConfigError(f"{str(run_dir)!r} holds no rendered units (no index.json, no images/*/unit_*.json); "
                          "give a run directory such as actmax_runs/lite0/version_0.")
    return index, records


def run_settings(run_dir: Path, index: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(name, value) of the run's settings that are known (backbone, objective, param, size, ...), for a header."""
    meta = [("run", run_dir.resolve()), ("backbone", index.get("backbone")), ("objective", index.get("objective")),
            ("param", index.get("param")), ("size", "x".join(map(str, index.get("size", []))) or None),
            ("steps/unit", index.get("steps_per_unit")), ("seed", index.get("seed")),
            ("processes", index.get("world_size")), ("images", len(records)),
            ("regularizers", ", ".join(index.get("regularizers", [])) or None)]
    return [(name, value) for name, value in meta if value not in (None, "")]


def metrics_table(index: dict[str, Any]) -> str:
    """The run-level ``metrics`` of an index as an HTML table (one row per metric, its numbers side by side), or ''."""
    rows = []
    for group, values in (index.get("metrics") or {}).items():
        cells = [f"<td>{escape(name)} <b>{escape(format_value(v))}</b></td>" if name
                 else f"<td><b>{escape(format_value(v))}</b></td>" for name, v in flat_numbers(values)]
        if cells:
            rows.append(f"<tr><th>{escape(group)}</th>{''.join(cells)}</tr>")
    return f'<table class="metrics">{"".join(rows)}</table>' if rows else ""


class _Page:
    """Collects the HTML of one gallery; every file reference is checked to exist."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.missing: list[str] = []

    def exists(self, relative: str | None) -> bool:
        if not relative:
            return False
        ok = (self.run_dir / relative).is_file()
        if not ok:
            self.missing.append(relative)
        return ok

    def img(self, relative: str, css: str, title: str, lazy: bool) -> str:
        """An image that opens at full size when clicked."""
        loading = ' loading="lazy"' if lazy else ""
        return (f'<a href="{file_url(relative)}"><img class="{css}" src="{file_url(relative)}" title="{escape(title)}" '
                f'alt="{escape(title)}"{loading}></a>')


#: Image files first in this order (best/final image, GIF, transparency), then any other, by name.
_FILE_ORDER = ("best", "final", "gif", "alpha")


def _file_rank(name: str) -> int:
    return _FILE_ORDER.index(name) if name in _FILE_ORDER else len(_FILE_ORDER)


def ordered_files(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A record's ``files`` as (name, path relative to the run) pairs: best/final image, GIF, transparency first."""
    files = record.get("files") or {}
    return [(str(name), path) for name, path in sorted(files.items(), key=lambda item: (_file_rank(item[0]), item[0]))
            if isinstance(path, str)]


def is_alpha_file(name: str) -> bool:
    """Whether a ``files`` entry is a transparency map (drawn over a checkerboard)."""
    return "alpha" in name or "transparen" in name


def _unit_card(page: _Page, unit: int, records: list[dict[str, Any]], examples: dict[str, Any] | None,
               lazy: bool) -> str:
    """One unit: a row per variant (image, image files, curve), its numbers, its dataset examples."""
    label = next((r["label"] for r in records if r.get("label")), "")
    activations = [float(r["activation"]) for r in records if isinstance(r.get("activation"), (int, float))]
    best = max(activations) if activations else float("nan")
    several = len(records) > 1
    parts = [f'<div class="card" data-unit="{unit}" data-activation="{best if activations else ""}" '
             f'data-label="{escape(label.lower())}">',
             f'<div class="head"><b>{unit}</b> {escape(label)}'
             f'<span class="act" title="final activation (best variant)">{format_value(best)}</span></div>']
    if incomplete_steps(records):
        parts.append(f'<div class="incomplete">incomplete: only {incomplete_steps(records)}</div>')
    links, rows = [], []
    for r in records:
        tag = f"unit {unit}" + (f" v{r.get('variant')}" if several else "")
        figures = []
        if page.exists(r.get("image")):
            caption = f"{tag}: activation {format_value(r.get('activation'))}"
            figures.append(f'<figure>{page.img(r["image"], "unit", caption, lazy)}'
                           f'<figcaption>{"v" + str(r.get("variant")) if several else "image"}</figcaption></figure>')
        for name, relative in ordered_files(r):
            if not page.exists(relative):
                continue
            if Path(relative).suffix.lower() in IMAGE_SUFFIXES:
                css = "unit alpha" if is_alpha_file(name) else "unit"
                figures.append(f'<figure>{page.img(relative, css, f"{tag}: {name}", lazy)}'
                               f'<figcaption>{escape(name)}</figcaption></figure>')
            else:
                links.append(f'<a href="{file_url(relative)}" download>{escape(tag)}: {escape(name)}</a>')
        values, steps = curve_values(r)
        svg = curve_svg(values, steps_per_point=steps)
        side = (f'<div class="curvebox">{svg}<span>activation {format_value(values[0])} → {format_value(values[-1])}</span></div>'
                if svg else "")
        parts.append(f'<div class="row">{"".join(figures)}{side}</div>')
        prefix = f"v{r.get('variant')} " if several else ""
        rows.extend(f"<tr><td>{escape(prefix + name)}</td><td>{escape(format_value(scalar))}</td></tr>"
                    for name, scalar in record_numbers(r))
    files = f'<div class="files">{" ".join(links)}</div>' if links else ""
    parts.append(f'<details class="numbers"><summary>numbers</summary><table>{"".join(rows)}</table>{files}</details>')
    if examples:
        for kind, title in (("top", "most activating"), ("bottom", "least activating")):
            shown = [e for e in examples.get(kind, []) if page.exists(e.get("image"))]
            if shown:
                thumbs = "".join(page.img(e["image"], "example", f"{e.get('source', '')}: {format_value(e.get('activation'))}",
                                          lazy) for e in shown)
                parts.append(f'<div class="examples"><div class="sub">{title} dataset images</div>{thumbs}</div>')
    parts.append("</div>")
    return "".join(parts)


_STYLE = """
body{font:13px/1.35 system-ui,sans-serif;margin:0;background:#f4f4f2;color:#222}
header{background:#1f2933;color:#eee;padding:10px 16px}header h1{font-size:17px;margin:0 0 4px}
header details{font-size:12px}header pre{max-height:300px;overflow:auto;color:#ddd}
header .meta{display:flex;flex-wrap:wrap;gap:2px 14px;word-break:break-all}header a{color:#9cd}
.bar{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:6px 16px;z-index:2}
.bar button{margin-right:4px}.bar input{margin:0 10px}
section{padding:8px 16px}h2{font-size:15px;margin:10px 0}
table.metrics th{text-align:left;font-weight:normal;color:#555;padding:1px 14px 1px 0}
table.metrics td{padding:1px 14px 1px 0}
.grid{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;max-width:760px}
.card .head{margin-bottom:4px}.card .act{float:right;color:#d9480f;margin-left:10px}
.incomplete{color:#fff;background:#c92a2a;padding:0 4px;border-radius:3px;display:inline-block}
.row{display:flex;flex-wrap:wrap;gap:4px;align-items:center;margin-bottom:4px;max-width:760px}
figure{margin:0;text-align:center;font-size:11px;color:#666}
img.unit{width:100px;height:100px;object-fit:contain;image-rendering:pixelated;display:block}
img.alpha{background:repeating-conic-gradient(#ccc 0% 25%,#fff 0% 50%) 0 0/16px 16px}
img.example{width:52px;height:52px;object-fit:cover;margin:1px}
.examples .sub,.curvebox span{font-size:11px;color:#666}.curvebox{display:flex;flex-direction:column;gap:2px}
details.numbers table{font-size:11px}details.numbers td{padding:0 8px 0 0}.files a{font-size:11px;margin-right:8px}
"""

#: Sorting and filtering of ``.card`` elements (``data-unit``, ``data-activation``, ``data-label`` lowercased) in
#: every ``.grid``: ``sortCards('activation', -1)``, ``filterCards(text)`` (unit id or part of a label; the count of
#: shown cards goes into ``#shown`` when there is one); ``#sort=-activation`` in the address sorts on load. Keys are
#: read once and the cards moved in one fragment, so 5,000 cards sort in milliseconds.
CARD_SCRIPT = """
function cardKeys(g){if(!g.cardKeys)g.cardKeys=Array.prototype.map.call(g.children,function(c){
 var a=parseFloat(c.dataset.activation);return {el:c,unit:+c.dataset.unit,activation:isNaN(a)?-Infinity:a,
 label:c.dataset.label||''};});return g.cardKeys;}
function sortCards(key,dir){document.querySelectorAll('.grid').forEach(function(g){var cards=cardKeys(g).slice();
 cards.sort(function(a,b){return dir*(a[key]-b[key])||(a.unit-b.unit);});
 var f=document.createDocumentFragment();cards.forEach(function(c){f.appendChild(c.el);});g.appendChild(f);});
 if(history.replaceState)history.replaceState(null,'','#sort='+(dir<0?'-':'')+key);}
function filterCards(text){text=text.trim().toLowerCase();var shown=0;document.querySelectorAll('.grid').forEach(
 function(g){cardKeys(g).forEach(function(c){var ok=!text||String(c.unit)===text||c.label.indexOf(text)>=0;
 c.el.style.display=ok?'':'none';shown+=ok;});});var n=document.getElementById('shown');if(n)n.textContent=shown;}
document.addEventListener('DOMContentLoaded',function(){var m=location.hash.match(/sort=(-?)(activation|unit)/);
 if(m)sortCards(m[2],m[1]?-1:1);});
"""


def build_gallery(run_dir: str | os.PathLike, out: str = "gallery.html", lazy_above: int = 200) -> Path:
    """Write ``run_dir/out`` from the run's ``index.json`` (or its per-unit records); returns its path.

    Images load lazily when the run has more than ``lazy_above`` images.
    """
    run_dir = Path(run_dir)
    index_path = run_dir / "index.json"
    index, records = load_run(run_dir)
    page = _Page(run_dir)
    lazy = len(records) > lazy_above
    examples = load_examples(run_dir)
    layers: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for record in records:
        layers.setdefault(str(record.get("layer")), {}).setdefault(int(record["unit"]), []).append(record)

    title = f"{index.get('backbone', run_dir.name)} · {index.get('objective', '')}"
    meta = run_settings(run_dir, index, records)
    body = [f"<header><h1>{escape(title)}</h1><div class=\"meta\">"
            + "".join(f"<span>{escape(k)}: <b>{escape(v)}</b></span>" for k, v in meta)
            + (' <a href="index.json">index.json</a>' if index_path.is_file() else "")
            + "</div>"
            + ("<details><summary>config</summary><pre>"
               f"{escape(json.dumps(strict_json(index['config']), indent=1, allow_nan=False))}</pre></details>"
               if index.get("config") else "")
            + "</header>"]
    body.append('<div class="bar">sort: <button onclick="sortCards(\'activation\',-1)">activation ↓</button>'
                '<button onclick="sortCards(\'activation\',1)">activation ↑</button>'
                '<button onclick="sortCards(\'unit\',1)">unit</button>'
                '<input placeholder="unit id or label" oninput="filterCards(this.value)"> '
                + " ".join(f'<a href="#layer-{escape(safe_name(layer))}">{escape(layer)}</a>' for layer in layers)
                + "</div>")
    metrics = metrics_table(index)
    if metrics:
        body.append(f"<section><h2>Run metrics</h2>{metrics}</section>")
    for layer, units in layers.items():
        layer_examples = examples.get(layer, {}).get("units", {})
        grid = index.get("grids", {}).get(layer)
        link = f' · <a href="{file_url(grid)}">grid</a>' if grid and page.exists(grid) else ""
        source = examples.get(layer)
        note = (f" · dataset examples from {escape(source.get('images'))} images of {escape(source.get('folder'))}"
                if source else "")
        cards = "".join(_unit_card(page, unit, sorted(rs, key=lambda r: int(r.get("variant", 0))),
                                   layer_examples.get(str(unit)), lazy) for unit, rs in sorted(units.items()))
        body.append(f'<section id="layer-{escape(safe_name(layer))}"><h2>{escape(layer)} — {len(units)} units'
                    f'{link}{note}</h2><div class="grid">{cards}</div></section>')
    document = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{escape(title)}</title><style>{_STYLE}</style><script>{CARD_SCRIPT}</script></head>"
                f"<body>{''.join(body)}</body></html>\n")
    path = run_dir / out
    atomic_write_text(path, document)
    return path


def referenced_files(document: str) -> list[str]:
    """Every local ``src``/``href`` of an HTML document (anchors and data URLs excluded), URL-decoded."""
    import re
    from urllib.parse import unquote

    links = re.findall(r'(?:src|href)="([^"]+)"', document)
    return [unquote(link) for link in links if not link.startswith(("#", "data:", "http:", "https:"))]


def gallery_command(argv: Sequence[str]) -> int:
    """``lit-actmax gallery RUN_DIR [RUN_DIR ...]``: (re)build each run's ``gallery.html``."""
    parser = argparse.ArgumentParser(prog="lit-actmax gallery", description=(
        "Write RUN_DIR/gallery.html: every unit's image, GIF, transparency map, activation curve, dataset examples "
        "and metrics; open it in a browser straight from the disk. A folder of runs (version_*) gets one per run."))
    parser.add_argument("run_dirs", nargs="+", help="run directories (or folders holding version_* runs)")
    args = parser.parse_args(list(argv))
    try:
        for run_dir in map(Path, args.run_dirs):
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
