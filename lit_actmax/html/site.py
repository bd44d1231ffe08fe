"""The atlas site of a run: static pages per model, layer and unit under ``<run_dir>/site/``, opened from disk.

Layout (addresses depend only on the layer and the unit id, so links into a site stay valid when it grows)::

    site/index.html                              the model: settings, one row per layer (model order) with its
                                                 unit count, objective, activation range and its top units
    site/layers/<safe_layer>.html                a layer: every unit as a lazy-loaded thumbnail card; sort by
                                                 activation or id, filter by id or label (inline script)
    site/units/<safe_layer>/unit_00005.html      a unit: its images large (every variant and every image file its
                                                 record lists: best, GIF, transparency), activation curve, dataset
                                                 examples, numbers; previous/next unit of the layer, links up
    site/thumbs/<safe_layer>/unit_00005.jpg      thumbnails (longest side about 96 px), made only when missing or
                                                 older than their image, so a rebuild after adding a layer only
                                                 does the new work; pages are rewritten only when they change
    site/site.css                                the shared style

Pages refer to the run's own files (``images/``, ``examples/``, ``grids/``) by relative, URL-quoted addresses: the
site works from ``file://`` with no server and no network, and moves with its run folder. Each page stores its
load time in ``<html data-load-ms=...>`` (the navigation entry's ``loadEventStart``) for measurement.

    lit-actmax site RUN_DIR [--out site]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from ..run.writer import atomic_write_bytes, atomic_write_text, image_stem, safe_name
from .gallery import (
    CARD_SCRIPT,
    IMAGE_SUFFIXES,
    curve_svg,
    curve_values,
    escape,
    file_url,
    format_value,
    incomplete_steps,
    is_alpha_file,
    load_examples,
    load_run,
    metrics_table,
    ordered_files,
    record_numbers,
    run_settings,
)

__all__ = ["build_site", "site_command", "layer_order", "unit_page", "layer_page", "write_thumbnail",
           "THUMB_SIDE", "LOAD_TIME_SCRIPT"]

#: Longest side of a thumbnail in pixels (a smaller image is enlarged by a whole factor, pixels kept sharp).
THUMB_SIDE = 96
#: Units shown on a layer's row of the model page (the most activating ones).
STRIP_UNITS = 8
#: Largest side a unit's main image is drawn at on its page, in CSS pixels.
LARGE_SIDE = 256

#: Writes the page's load time (ms from navigation start to the load event) into ``<html data-load-ms>``.
LOAD_TIME_SCRIPT = ("addEventListener('load',function(){var n=performance.getEntriesByType('navigation')[0];"
                    "document.documentElement.dataset.loadMs=(n?n.loadEventStart:performance.now()).toFixed(1);});")


@dataclass
class _Unit:
    """One unit of a layer: its records (one per variant, by variant) and the record its card shows."""

    layer: str
    unit: int
    records: list[dict[str, Any]]

    @property
    def shown(self) -> dict[str, Any]:
        """The variant with the highest activation (the first variant when none has one)."""
        return max(self.records, key=lambda r: (_activation(r) if _activation(r) is not None else -math.inf,
                                                -int(r.get("variant", 0))))

    @property
    def activation(self) -> float | None:
        return _activation(self.shown)

    @property
    def label(self) -> str:
        return next((str(r["label"]) for r in self.records if r.get("label")), "")

    @property
    def incomplete(self) -> str:
        """``"40 of 96 steps"`` when an image had fewer steps than the run's (a group cut short), else ''."""
        return incomplete_steps(self.records)


def _activation(record: dict[str, Any]) -> float | None:
    value = record.get("activation")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _natural_key(text: str) -> list[Any]:
    """``_blocks.10`` after ``_blocks.9``: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def layer_order(index: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[str]:
    """The layers that have records, in model order: as listed in the index's ``layers`` (the run's order), then any
    other in natural order of their names (an unfinished run has no index: ``features.10`` after ``features.9``)."""
    present = {str(r.get("layer")) for r in records}
    listed = [str(layer) for layer in index.get("layers") or [] if str(layer) in present]
    ordered = list(dict.fromkeys(listed))
    return ordered + sorted(present - set(ordered), key=_natural_key)


def layer_page(layer: str) -> str:
    """A layer page's address relative to the site folder: ``layers/<safe_layer>.html``."""
    return f"layers/{safe_name(layer)}.html"


def unit_page(layer: str, unit: int) -> str:
    """A unit page's address relative to the site folder: ``units/<safe_layer>/unit_00005.html``."""
    return f"units/{safe_name(layer)}/{image_stem(int(unit))}.html"


def _thumb_path(record: dict[str, Any]) -> str:
    """A record image's thumbnail relative to the site folder: ``thumbs/<safe_layer>/<image stem>.jpg``."""
    return f"thumbs/{safe_name(str(record.get('layer')))}/{Path(str(record['image'])).stem}.jpg"


def write_thumbnail(source: Path, target: Path, side: int = THUMB_SIDE) -> bool:
    """Write ``target``, a JPEG of ``source`` whose longest side is about ``side`` px (transparency over white),
    unless it exists and is not older than ``source``. Returns whether it was written."""
    if target.is_file() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns:
        return False
    with Image.open(source) as image:
        image.load()
        if image.mode in ("RGBA", "LA", "P"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
        else:
            flat = image.convert("RGB")
    longest = max(flat.size)
    if longest > side:
        flat.thumbnail((side, side), Image.Resampling.LANCZOS)
    elif longest * 2 <= side:  # a 32 px image -> 96 px with sharp pixels, so JPEG blocks stay inside them
        factor = side // longest
        flat = flat.resize((flat.width * factor, flat.height * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    flat.save(buffer, format="JPEG", quality=88)
    atomic_write_bytes(target, buffer.getvalue())
    return True


def _write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` (atomically) unless the file already holds it; returns whether it was written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


_STYLE = """
body{font:13px/1.35 system-ui,sans-serif;margin:0;background:#f4f4f2;color:#222}
a{color:#1c5fa8;text-decoration:none}a:hover{text-decoration:underline}
header{background:#1f2933;color:#eee;padding:10px 16px}header h1{font-size:17px;margin:2px 0 4px}
header a{color:#9cd}header .crumbs{font-size:12px;color:#bbb}header details{font-size:12px}
header pre{max-height:300px;overflow:auto;color:#ddd}
.meta{display:flex;flex-wrap:wrap;gap:2px 14px;word-break:break-all;font-size:12px}
.nav{float:right;font-size:12px}.nav a{margin-left:10px}
main{padding:8px 16px}h2{font-size:15px;margin:12px 0 6px}
table.metrics th{text-align:left;font-weight:normal;color:#555;padding:1px 14px 1px 0}
table.metrics td{padding:1px 14px 1px 0}
table.layers{border-collapse:collapse;background:#fff}
table.layers th,table.layers td{border-bottom:1px solid #e3e3e3;padding:4px 10px;text-align:left;vertical-align:middle}
table.layers th{font-weight:600;background:#fafafa}td.num{text-align:right;white-space:nowrap}
.strip{display:flex;gap:3px}.strip img{display:block;width:64px;height:64px;object-fit:contain;background:#eee}
.bar{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:6px 16px;z-index:2}
.bar button{margin-right:4px}.bar input{margin:0 10px;width:180px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,108px);gap:8px}
.card{display:block;background:#fff;border:1px solid #ddd;border-radius:5px;padding:5px;width:96px;height:132px;
 color:#222;content-visibility:auto;contain-intrinsic-size:108px 144px}
.card img,.card .none{display:block;width:96px;height:96px;object-fit:contain;background:#eee}
.card span{display:block;font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card .act{color:#d9480f}.incomplete{color:#fff;background:#c92a2a;padding:0 4px;border-radius:3px}
.variant{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;margin-bottom:10px;display:flex;
 flex-wrap:wrap;gap:10px 24px;align-items:flex-end}.variant h2{width:100%;margin:0}
.figures{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}
figure{margin:0;text-align:center;font-size:11px;color:#666}
img.large{display:block;max-width:512px;image-rendering:pixelated;background:#eee}
img.alpha{background:repeating-conic-gradient(#ccc 0% 25%,#fff 0% 50%) 0 0/16px 16px}
.curvebox{margin-top:8px;font-size:11px;color:#666}
table.numbers{border-collapse:collapse;background:#fff;font-size:12px}
table.numbers td,table.numbers th{border-bottom:1px solid #eee;padding:2px 10px 2px 0;text-align:left}
.examples img{width:96px;height:96px;object-fit:cover;margin:1px}.files a{margin-right:10px}
.note{color:#777;font-size:12px}
"""

_UNIT_KEYS_SCRIPT = ("addEventListener('keydown',function(e){if(e.target.tagName==='INPUT')return;"
                     "var l=document.querySelector(e.key==='ArrowLeft'?'link[rel=prev]':e.key==='ArrowRight'?"
                     "'link[rel=next]':null);if(l)location.href=l.href;});")


class _Site:
    """The pages of one site: knows where the run and the site are, and which run files exist."""

    def __init__(self, run_dir: Path, site_dir: Path) -> None:
        self.run_dir, self.site_dir = run_dir, site_dir
        self._exists: dict[str, bool] = {}
        self.pages_written = self.thumbs_written = 0

    def exists(self, relative: Any) -> bool:
        """Whether ``relative`` (a path from a record, relative to the run) is a file."""
        if not isinstance(relative, str) or not relative:
            return False
        if relative not in self._exists:
            self._exists[relative] = (self.run_dir / relative).is_file()
        return self._exists[relative]

    def to_run(self, page: str, relative: str) -> str:
        """The URL, from site page ``page``, of the run file ``relative``."""
        return file_url(os.path.relpath(self.run_dir / relative, (self.site_dir / page).parent))

    @staticmethod
    def to_site(page: str, target: str) -> str:
        """The URL, from site page ``page``, of site file ``target`` (both relative to the site folder)."""
        return file_url(os.path.relpath(target, os.path.dirname(page) or "."))

    def document(self, page: str, title: str, body: str, script: str = "", head: str = "") -> None:
        text = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                f"<title>{escape(title)}</title><link rel=\"stylesheet\" href=\"{self.to_site(page, 'site.css')}\">"
                f"{head}<script>{LOAD_TIME_SCRIPT}{script}</script></head><body>{body}</body></html>\n")
        self.pages_written += _write_if_changed(self.site_dir / page, text)

    def thumbnail(self, record: dict[str, Any]) -> str | None:
        """The thumbnail of a record's image (made if needed), relative to the site, or None without an image."""
        if not self.exists(record.get("image")):
            return None
        target = _thumb_path(record)
        self.thumbs_written += write_thumbnail(self.run_dir / record["image"], self.site_dir / target)
        return target


def _group(records: Sequence[dict[str, Any]], layers: Sequence[str]) -> dict[str, list[_Unit]]:
    """{layer: its units by id}, layers in the given order."""
    grouped: dict[str, dict[int, list[dict[str, Any]]]] = {layer: {} for layer in layers}
    for record in records:
        grouped[str(record.get("layer"))].setdefault(int(record["unit"]), []).append(record)
    return {layer: [_Unit(layer, unit, sorted(rs, key=lambda r: int(r.get("variant", 0))))
                    for unit, rs in sorted(units.items())] for layer, units in grouped.items()}


def _range(units: Sequence[_Unit]) -> str:
    values = [u.activation for u in units if u.activation is not None]
    return f"{format_value(min(values))} – {format_value(max(values))}" if values else "–"


def _objectives(units: Sequence[_Unit]) -> str:
    return ", ".join(dict.fromkeys(str(r.get("objective")) for u in units for r in u.records if r.get("objective")))


def _card_title(unit: _Unit) -> str:
    return f"unit {unit.unit}" + (f" {unit.label}" if unit.label else "") + \
        (f": activation {format_value(unit.activation)}" if unit.activation is not None else "")


def _thumb_img(site: _Site, page: str, thumb: str | None, title: str, side: int, lazy: bool) -> str:
    """A thumbnail of fixed size (no layout shift while it loads); lazy ones (cards, whose text says the same)
    have no tooltip."""
    if thumb is None:
        return f'<span class="none" title="{escape(title)}">no image</span>'
    extra = ' loading="lazy"' if lazy else f' title="{escape(title)}"'
    return f'<img src="{site.to_site(page, thumb)}" width="{side}" height="{side}" alt="{escape(title)}"{extra}>'



def _model_page(site: _Site, index: dict[str, Any], records: Sequence[dict[str, Any]],
                layers: dict[str, list[_Unit]], thumbs: dict[tuple[str, int], str | None],
                examples: dict[str, dict[str, Any]]) -> None:
    page = "index.html"
    title = str(index.get("backbone") or site.run_dir.name)
    settings = [("run", "/".join(site.run_dir.resolve().parts[-2:]))]  # the page moves with its run folder
    settings += [(k, v) for k, v in run_settings(site.run_dir, index, records) if k not in ("run", "objective")]
    meta = "".join(f"<span>{escape(k)}: <b>{escape(v)}</b></span>" for k, v in settings)
    links = [f'<a href="{site.to_run(page, name)}">{label}</a>' for name, label in
             (("index.json", "index.json"), ("gallery.html", "one-page gallery")) if site.exists(name)]
    state = "" if index else ('<p class="note">unfinished run: no index.json yet, the pages show the unit records '
                              "written so far</p>")
    rows = []
    for layer, units in layers.items():
        top = sorted(units, key=lambda u: (-(u.activation if u.activation is not None else -math.inf), u.unit))
        strip = "".join(f'<a href="{site.to_site(page, unit_page(layer, u.unit))}">'
                        f'{_thumb_img(site, page, thumbs[layer, u.unit], _card_title(u), 64, False)}</a>'
                        for u in top[:STRIP_UNITS])
        grid = (index.get("grids") or {}).get(layer)
        extra = [f'<a href="{site.to_run(page, grid)}">grid</a>'] if site.exists(grid) else []
        if layer in examples:
            extra.append("dataset examples")
        rows.append(f'<tr><td><a href="{site.to_site(page, layer_page(layer))}"><b>{escape(layer)}</b></a>'
                    f'<div class="note">{" · ".join(extra)}</div></td>'
                    f'<td class="num">{len(units)}</td><td>{escape(_objectives(units))}</td>'
                    f'<td class="num">{escape(_range(units))}</td><td><div class="strip">{strip}</div></td></tr>')
    metrics = metrics_table(index)
    body = (f'<header><div class="crumbs">lit_actmax atlas</div><h1>{escape(title)}</h1><div class="meta">{meta}'
            f'{" ".join(links)}</div>'
            + (f"<details><summary>config</summary><pre>{escape(_config_text(index))}</pre></details>"
               if index.get("config") else "")
            + f"</header><main>{state}"
            + (f"<h2>Run metrics</h2>{metrics}" if metrics else "")
            + f'<h2>{len(layers)} layers, {sum(len(u) for u in layers.values())} units</h2>'
            '<table class="layers"><thead><tr><th>layer</th><th>units</th><th>objective</th>'
            f'<th>activation</th><th>most activating units</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            "</main>")
    site.document(page, f"{title} · atlas", body)


def _config_text(index: dict[str, Any]) -> str:
    import json

    return json.dumps(index.get("config"), indent=1, allow_nan=False, default=str)


def _crumbs(site: _Site, page: str, title: str, layer: str | None = None) -> str:
    parts = [f'<a href="{site.to_site(page, "index.html")}">{escape(title)}</a>']
    if layer is not None:
        parts.append(f'<a href="{site.to_site(page, layer_page(layer))}">{escape(layer)}</a>')
    return f'<div class="crumbs">{" › ".join(parts)}</div>'


def _neighbours(site: _Site, page: str, before: tuple[str, str] | None, after: tuple[str, str] | None) -> str:
    """Previous/next links (``(address, text)`` relative to the site) and their ``<link rel>`` for the keys."""
    links = []
    for item, rel, arrow in ((before, "prev", "‹ "), (after, "next", "")):
        if item is not None:
            text = f"{arrow}{item[1]}" + (" ›" if rel == "next" else "")
            links.append(f'<a rel="{rel}" href="{site.to_site(page, item[0])}">{escape(text)}</a>')
    return f'<div class="nav">{"".join(links)}</div>' if links else ""


def _layer_page(site: _Site, title: str, layer: str, units: list[_Unit], thumbs: dict[tuple[str, int], str | None],
                neighbours: tuple[str | None, str | None], index: dict[str, Any],
                examples: dict[str, Any] | None) -> None:
    page = layer_page(layer)
    cards = []
    for u in units:
        activation = u.activation
        cards.append(f'<a class="card" href="{site.to_site(page, unit_page(layer, u.unit))}" data-unit="{u.unit}" '
                     f'data-activation="{"" if activation is None else f"{activation:.8g}"}" '
                     f'data-label="{escape(u.label.lower())}">'
                     f'{_thumb_img(site, page, thumbs[layer, u.unit], _card_title(u), THUMB_SIDE, True)}'
                     f'<span><b>{u.unit}</b> {escape(u.label)}</span>'
                     + (f'<span class="incomplete">incomplete: {u.incomplete}</span>' if u.incomplete else "") +
                     f'<span class="act">{format_value(activation) if activation is not None else "–"}</span></a>')
    before, after = neighbours
    nav = _neighbours(site, page, (layer_page(before), before) if before else None,
                      (layer_page(after), after) if after else None)
    grid = (index.get("grids") or {}).get(layer)
    notes = [f"objective {escape(_objectives(units))}", f"activation {escape(_range(units))}"]
    if site.exists(grid):
        notes.append(f'<a href="{site.to_run(page, grid)}">grid</a>')
    if examples:
        notes.append(f"dataset examples from {escape(examples.get('images', '?'))} images")
    body = (f"<header>{nav}{_crumbs(site, page, title)}<h1>{escape(layer)} — {len(units)} units</h1>"
            f'<div class="meta">{" · ".join(notes)}</div></header>'
            '<div class="bar">sort: <button onclick="sortCards(\'activation\',-1)">activation ↓</button>'
            '<button onclick="sortCards(\'activation\',1)">activation ↑</button>'
            '<button onclick="sortCards(\'unit\',1)">unit id</button>'
            '<input type="search" placeholder="filter: unit id or label" oninput="filterCards(this.value)">'
            f'<span class="note"><span id="shown">{len(units)}</span> of {len(units)} shown</span></div>'
            f'<main><div class="grid">{"".join(cards)}</div></main>')
    site.document(page, f"{layer} · {title}", body, script=CARD_SCRIPT)


def _unit_page(site: _Site, title: str, unit: _Unit, before: _Unit | None, after: _Unit | None,
               examples: dict[str, Any] | None) -> None:
    layer = unit.layer
    page = unit_page(layer, unit.unit)
    several = len(unit.records) > 1
    nav = _neighbours(site, page, (unit_page(layer, before.unit), f"unit {before.unit}") if before else None,
                      (unit_page(layer, after.unit), f"unit {after.unit}") if after else None)
    head = "".join(f'<link rel="{rel}" href="{site.to_site(page, unit_page(layer, other.unit))}">'
                   for rel, other in (("prev", before), ("next", after)) if other is not None)
    sections, downloads = [], []
    for record in unit.records:
        tag = f"variant {record.get('variant', 0)}" if several else ""
        figures = []
        size = record.get("size") if isinstance(record.get("size"), list) and len(record["size"]) == 2 else None
        if site.exists(record.get("image")):
            figures.append(_large(site, page, record["image"], "image", f"unit {unit.unit} {tag}".strip(), size))
        for name, relative in ordered_files(record):
            if not site.exists(relative):
                continue
            if Path(relative).suffix.lower() in IMAGE_SUFFIXES:
                figures.append(_large(site, page, relative, name, f"unit {unit.unit} {tag}: {name}",
                                      record.get("best_size") if name in ("best", "final") else size,
                                      alpha=is_alpha_file(name)))
            else:
                downloads.append(f'<a href="{site.to_run(page, relative)}" download>{escape(tag + " " + name)}</a>')
        json_record = str(Path(str(record.get("image", ""))).with_suffix(".json"))
        if site.exists(json_record):
            downloads.append(f'<a href="{site.to_run(page, json_record)}">{escape((tag + " record").strip())}</a>')
        values, steps = curve_values(record)
        svg = curve_svg(values, width=360, height=90, steps_per_point=steps)
        curve = (f'<div class="curvebox">{svg}<div>activation during optimization: {format_value(values[0])} → '
                 f"{format_value(values[-1])}</div></div>" if svg else "")
        heading = f"<h2>{escape(tag)}</h2>" if several else ""
        sections.append(f'<section class="variant">{heading}<div class="figures">{"".join(figures)}</div>'
                        f"{curve}</section>")
    table = _numbers_table(unit.records, several)
    shown = []
    for kind, caption in (("top", "most activating dataset images"), ("bottom", "least activating dataset images")):
        entries = [e for e in (examples or {}).get(kind, []) if site.exists(e.get("image"))]
        if entries:
            images = "".join(f'<img src="{site.to_run(page, e["image"])}" width="96" height="96" loading="lazy" '
                             f'alt="{escape(e.get("source", ""))}" '
                             f'title="{escape(e.get("source", ""))}: {escape(format_value(e.get("activation")))}">'
                             for e in entries)
            shown.append(f'<h2>{caption}</h2><div class="examples">{images}</div>')
    label = f" {unit.label}" if unit.label else ""
    objective = _objectives([unit])
    body = (f"<header>{nav}{_crumbs(site, page, title, layer)}<h1>unit {unit.unit}{escape(label)}</h1>"
            f'<div class="meta"><span>layer <b>{escape(layer)}</b></span>'
            + (f"<span>objective <b>{escape(objective)}</b></span>" if objective else "")
            + (f"<span>activation <b>{format_value(unit.activation)}</b></span>" if unit.activation is not None else "")
            + (f'<span class="incomplete">incomplete: only {unit.incomplete} (the run was cut short; continue it to '
               "finish this unit)</span>" if unit.incomplete else "")
            + f'</div></header><main>{"".join(sections)}{"".join(shown)}<h2>numbers</h2>{table}'
            + (f'<p class="files">{" ".join(downloads)}</p>' if downloads else "")
            + "</main>")
    site.document(page, f"unit {unit.unit}{label} · {layer} · {title}", body, script=_UNIT_KEYS_SCRIPT, head=head)


def _large(site: _Site, page: str, relative: str, caption: str, title: str, size: Any = None,
           alpha: bool = False) -> str:
    """A run image drawn large (longest side :data:`LARGE_SIDE`, pixels kept sharp), linking to the file itself."""
    dims = ""
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        height, width = size
        scale = LARGE_SIDE / max(height, width)
        dims = f' width="{round(width * scale)}" height="{round(height * scale)}"'
    css = "large alpha" if alpha else "large"
    url = site.to_run(page, relative)
    return (f'<figure><a href="{url}"><img class="{css}" src="{url}"{dims} alt="{escape(title)}" '
            f'title="{escape(title)}"></a><figcaption>{escape(caption)}</figcaption></figure>')


def _numbers_table(records: Sequence[dict[str, Any]], several: bool) -> str:
    """A unit's numbers: a row per name, a column per variant."""
    columns = [dict(record_numbers(r)) | {key: r[key] for key in ("steps", "seed") if key in r} for r in records]
    names = list(dict.fromkeys(name for column in columns for name in column))
    head = ("<tr><th></th>" + "".join(f"<th>variant {escape(r.get('variant', 0))}</th>" for r in records) + "</tr>"
            if several else "")
    rows = "".join(f"<tr><td>{escape(name)}</td>"
                   + "".join(f"<td>{escape(format_value(c[name])) if c.get(name) is not None else '–'}</td>"
                             for c in columns) + "</tr>" for name in names)
    return f'<table class="numbers">{head}{rows}</table>'


def build_site(run_dir: str | os.PathLike, out: str = "site") -> Path:
    """Write the atlas site of ``run_dir`` into ``run_dir/out`` (see the module docstring); returns the model page.

    Reads ``index.json`` when the run has one, else the unit records written so far. Raises
    :class:`~lit_actmax.errors.ConfigError` when the folder holds no unit records.
    """
    run_dir = Path(run_dir)
    index, records = load_run(run_dir)
    site = _Site(run_dir, run_dir / out)
    site.site_dir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(site.site_dir / "site.css", _STYLE.lstrip())
    order = layer_order(index, records)
    layers = _group(records, order)
    examples = load_examples(run_dir)
    thumbs = {(layer, u.unit): site.thumbnail(u.shown) for layer, units in layers.items() for u in units}
    title = str(index.get("backbone") or run_dir.name)
    _model_page(site, index, records, layers, thumbs, examples)
    for position, (layer, units) in enumerate(layers.items()):
        neighbours = (order[position - 1] if position > 0 else None,
                      order[position + 1] if position + 1 < len(order) else None)
        layer_examples = examples.get(layer)
        _layer_page(site, title, layer, units, thumbs, neighbours, index, layer_examples)
        per_unit = (layer_examples or {}).get("units") or {}
        for i, unit in enumerate(units):
            _unit_page(site, title, unit, units[i - 1] if i > 0 else None, units[i + 1] if i + 1 < len(units) else None,
                       per_unit.get(str(unit.unit)))
    return site.site_dir / "index.html"


def site_command(argv: Sequence[str]) -> int:
    """``lit-actmax site RUN_DIR [--out site]``: (re)build a run's atlas site and print the model page's address."""
    parser = argparse.ArgumentParser(prog="lit-actmax site", description=(
        "Write RUN_DIR/site/: a model page (one row per layer), a page per layer (sortable, filterable thumbnails) "
        "and a page per unit (images, GIF, transparency, curve, dataset examples, numbers); it opens from the disk. "
        "Rebuilding after adding layers or examples only makes the new thumbnails."))
    parser.add_argument("run_dir", help="a run directory (with index.json, or the unit records of an unfinished run)")
    parser.add_argument("--out", default="site", help="folder inside the run directory (default: site)")
    args = parser.parse_args(list(argv))
    try:
        page = build_site(args.run_dir, out=args.out)
    except (FileNotFoundError, ValueError) as error:
        print(f"lit-actmax site: error: {error}", file=sys.stderr)
        return 2
    print(f"lit-actmax: site: {page.resolve().as_uri()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(site_command(sys.argv[1:]))
