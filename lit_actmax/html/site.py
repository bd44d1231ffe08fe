"""The atlas site of a run: static pages per model, layer and unit under ``<run_dir>/site/``, opened from disk.

Layout (addresses depend only on the layer and the unit id, so links into a site stay valid when it grows)::

    site/index.html                              the model: settings, one row per layer (model order) with its
                                                 unit count, objective, activation range, explanation score (when
                                                 scored: run/explanation_scores.py; rows sortable by it) and its
                                                 top units
    site/layers/<safe_layer>.html                a layer: every unit as a lazy-loaded thumbnail card; sort by
                                                 activation, explanation score or id, filter by id or label
                                                 (inline script)
    site/units/<safe_layer>/unit_00005.html      a unit: its images large (every variant and every image file its
                                                 record lists: best, GIF, transparency), activation curve, dataset
                                                 examples, explanation score, numbers; previous/next unit of the
                                                 layer, links up; for a watched training (FeatureVisualization,
                                                 lit-actmax evolve) its image at every render, "over training"
                                                 (html/over_training.py)
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
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from ..image.io import write_thumbnail
from ..run.explanation_scores import read_explanation_scores
from ..run.files import atomic_write_text, layer_folder
from ..run.records import image_stem
from ..run.storage import AnyPath, Location, location
from .card_sorting import CARD_SCRIPT, card_data, score_buttons, sort_bar
from .markup import RunFiles, config_details, escape, file_url, format_value, metrics_table, settings_spans
from .over_training import over_training_view
from .records import Unit, group_units, load_examples, load_run, run_settings
from .style import STYLE
from .unit_card import PAGE_SIZES, unit_view

__all__ = ["build_site", "site_command", "unit_page", "layer_page", "THUMB_SIDE", "STRIP_UNITS", "LOAD_TIME_SCRIPT"]

#: Longest side of a thumbnail in pixels (a smaller image is enlarged by a whole factor, pixels kept sharp).
THUMB_SIDE = 96
#: Units shown on a layer's row of the model page (the most activating ones).
STRIP_UNITS = 8

#: Writes the page's load time (ms from navigation start to the load event) into ``<html data-load-ms>``.
LOAD_TIME_SCRIPT = ("addEventListener('load',function(){var n=performance.getEntriesByType('navigation')[0];"
                    "document.documentElement.dataset.loadMs=(n?n.loadEventStart:performance.now()).toFixed(1);});")


def layer_page(layer: str) -> str:
    """A layer page's address relative to the site folder: ``layers/<safe_layer>.html``."""
    return f"layers/{layer_folder(layer)}.html"


def unit_page(layer: str, unit: int) -> str:
    """A unit page's address relative to the site folder: ``units/<safe_layer>/unit_00005.html``."""
    return f"units/{layer_folder(layer)}/{image_stem(int(unit))}.html"


def _thumb_path(record: dict[str, Any]) -> str:
    """A record image's thumbnail relative to the site folder: ``thumbs/<safe_layer>/<image stem>.jpg``."""
    return f"thumbs/{layer_folder(str(record.get('layer')))}/{Path(str(record['image'])).stem}.jpg"


def _write_if_changed(path: Location, text: str) -> bool:
    """Write ``text`` to ``path`` (atomically) unless the file already holds it; returns whether it was written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


#: What an explanation score is, in a line under the sort buttons.
_SCORE_NOTE = ("explanation score: share of (strongly, weakly activating) dataset image pairs the picture tells "
               "apart in a trained model's features (0.5 = chance); in brackets the held-out dataset examples' score")

#: The tooltip of a card's numbers when the unit has an explanation score.
_SCORED_CARD_TITLE = ' title="activation · explanation score"'

_UNIT_KEYS_SCRIPT = ("addEventListener('keydown',function(e){if(e.target.tagName==='INPUT')return;"
                     "var l=document.querySelector(e.key==='ArrowLeft'?'link[rel=prev]':e.key==='ArrowRight'?"
                     "'link[rel=next]':null);if(l)location.href=l.href;});")


class _Site:
    """The pages of one site: knows where the run and the site are, and which run files exist."""

    def __init__(self, run_dir: Location, site_dir: Location) -> None:
        self.run_dir, self.site_dir = run_dir, site_dir
        self.files = RunFiles(run_dir)
        self.pages_written = self.thumbs_written = 0

    def exists(self, relative: Any) -> bool:
        """Whether ``relative`` (a path from a record, relative to the run) is a file."""
        return self.files.exists(relative)

    def folder_of(self, page: str) -> Location:
        """The folder of site page ``page`` (relative to the site folder)."""
        return (self.site_dir / page).parent

    def to_run(self, page: str, relative: str) -> str:
        """The URL, from site page ``page``, of the run file ``relative``."""
        return self.files.url(relative, self.folder_of(page))

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
        self.thumbs_written += write_thumbnail(self.run_dir / record["image"], self.site_dir / target, THUMB_SIDE)
        return target


def _range(units: Sequence[Unit]) -> str:
    values = [u.activation for u in units if u.activation is not None]
    return f"{format_value(min(values))} – {format_value(max(values))}" if values else "–"


def _objectives(units: Sequence[Unit]) -> str:
    return ", ".join(dict.fromkeys(str(r.get("objective")) for u in units for r in u.records if r.get("objective")))


def _card_title(unit: Unit) -> str:
    return f"unit {unit.unit}" + (f" {unit.label}" if unit.label else "") + \
        (f": activation {format_value(unit.activation)}" if unit.activation is not None else "")


def _thumb_img(site: _Site, page: str, thumb: str | None, title: str, side: int, lazy: bool) -> str:
    """A thumbnail of fixed size (no layout shift while it loads); lazy ones (cards, whose text says the same)
    have no tooltip."""
    if thumb is None:
        return f'<span class="none" title="{escape(title)}">no image</span>'
    extra = ' loading="lazy"' if lazy else f' title="{escape(title)}"'
    return f'<img src="{site.to_site(page, thumb)}" width="{side}" height="{side}" alt="{escape(title)}"{extra}>'


def _score_text(scores: dict[str, Any] | None) -> str:
    """``"0.83 (examples 0.94)"``: a unit's or layer's explanation score and its dataset examples' (the reference);
    '–' without one."""
    if not scores or not isinstance(scores.get("picture"), (int, float)):
        return "–"
    return f"{scores['picture']:.2f} (examples {format_value(scores.get('examples'))})"


def _model_page(site: _Site, index: dict[str, Any], records: Sequence[dict[str, Any]],
                layers: dict[str, list[Unit]], thumbs: dict[tuple[str, int], str | None],
                examples: dict[str, dict[str, Any]], scores: dict[str, dict[str, Any]]) -> None:
    page = "index.html"
    title = str(index.get("backbone") or site.run_dir.name)
    settings = [("run", "/".join(site.run_dir.resolve().parts[-2:]))]  # the page moves with its run folder
    settings += [(k, v) for k, v in run_settings(site.run_dir, index, records) if k not in ("run", "objective")]
    meta = settings_spans(settings)
    links = [f'<a href="{site.to_run(page, name)}">{label}</a>' for name, label in
             (("index.json", "index.json"), ("gallery.html", "one-page gallery")) if site.exists(name)]
    state = "" if index else ('<p class="note">unfinished run: no index.json yet, the pages show the unit records '
                              "written so far</p>")
    rows = []
    for position, (layer, units) in enumerate(layers.items()):
        top = sorted(units, key=lambda u: (-(u.activation if u.activation is not None else -math.inf), u.unit))
        strip = "".join(f'<a href="{site.to_site(page, unit_page(layer, u.unit))}">'
                        f'{_thumb_img(site, page, thumbs[layer, u.unit], _card_title(u), 64, False)}</a>'
                        for u in top[:STRIP_UNITS])
        grid = (index.get("grids") or {}).get(layer)
        extra = [f'<a href="{site.to_run(page, grid)}">grid</a>'] if site.exists(grid) else []
        if layer in examples:
            extra.append("dataset examples")
        score = scores.get(layer, {}).get("picture")
        sort_keys = (f' data-unit="{position}"' + (f' data-score="{score:.6g}"' if score is not None else "")
                     if scores else "")
        rows.append(f'<tr{sort_keys}><td><a href="{site.to_site(page, layer_page(layer))}"><b>{escape(layer)}</b></a>'
                    f'<div class="note">{" · ".join(extra)}</div></td>'
                    f'<td class="num">{len(units)}</td><td>{escape(_objectives(units))}</td>'
                    f'<td class="num">{escape(_range(units))}</td>'
                    + (f'<td class="num">{escape(_score_text(scores.get(layer)))}</td>' if scores else "")
                    + f'<td><div class="strip">{strip}</div></td></tr>')
    metrics = metrics_table(index)
    sortable = ' class="sortable"' if scores else ""
    body = (f'<header><div class="crumbs">lit_actmax atlas</div><h1>{escape(title)}</h1><div class="meta">{meta}'
            f'{" ".join(links)}</div>'
            + f"{config_details(index)}</header><main>{state}"
            + (f"<h2>Run metrics</h2>{metrics}" if metrics else "")
            + f'<h2>{len(layers)} layers, {sum(len(u) for u in layers.values())} units</h2>'
            + (f'<p>sort layers: <button onclick="sortCards(\'unit\',1)">model order</button>'
               f'{score_buttons()} <span class="note">{_SCORE_NOTE}</span></p>' if scores else "")
            + '<table class="layers"><thead><tr><th>layer</th><th>units</th><th>objective</th><th>activation</th>'
            + ('<th>explanation score</th>' if scores else "")
            + f'<th>most activating units</th></tr></thead><tbody{sortable}>{"".join(rows)}</tbody></table>'
            "</main>")
    site.document(page, f"{title} · atlas", body, script=CARD_SCRIPT if scores else "")


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


def _layer_page(site: _Site, title: str, layer: str, units: list[Unit], thumbs: dict[tuple[str, int], str | None],
                neighbours: tuple[str | None, str | None], index: dict[str, Any],
                examples: dict[str, Any] | None, scores: dict[str, Any] | None) -> None:
    page = layer_page(layer)
    cards = []
    for u in units:
        activation = u.activation
        score = ((scores or {}).get("units") or {}).get(str(u.unit), {}).get("picture")
        cards.append(f'<a class="card" href="{site.to_site(page, unit_page(layer, u.unit))}" {card_data(u, score)}>'
                     f'{_thumb_img(site, page, thumbs[layer, u.unit], _card_title(u), THUMB_SIDE, True)}'
                     f'<span><b>{u.unit}</b> {escape(u.label)}</span>'
                     + (f'<span class="incomplete">incomplete: {u.incomplete}</span>' if u.incomplete else "") +
                     f'<span class="act"{"" if score is None else _SCORED_CARD_TITLE}>'
                     f'{format_value(activation) if activation is not None else "–"}'
                     f'{"" if score is None else f" · {score:.2f}"}</span></a>')
    before, after = neighbours
    nav = _neighbours(site, page, (layer_page(before), before) if before else None,
                      (layer_page(after), after) if after else None)
    grid = (index.get("grids") or {}).get(layer)
    notes = [f"objective {escape(_objectives(units))}", f"activation {escape(_range(units))}"]
    if site.exists(grid):
        notes.append(f'<a href="{site.to_run(page, grid)}">grid</a>')
    if examples:
        notes.append(f"dataset examples from {escape(examples.get('images', '?'))} images")
    if scores:
        notes.append(f'<span title="{escape(_SCORE_NOTE)}">explanation score {escape(_score_text(scores))}, mean over '
                     f"{len(scores.get('units') or {})} units</span>")
    body = (f"<header>{nav}{_crumbs(site, page, title)}<h1>{escape(layer)} — {len(units)} units</h1>"
            f'<div class="meta">{" · ".join(notes)}</div></header>'
            f'{sort_bar(len(units), scores=bool(scores))}<main><div class="grid thumbs">{"".join(cards)}</div></main>')
    site.document(page, f"{layer} · {title}", body, script=CARD_SCRIPT)


def _unit_page(site: _Site, title: str, unit: Unit, before: Unit | None, after: Unit | None,
               examples: dict[str, Any] | None, scores: dict[str, Any] | None) -> None:
    layer = unit.layer
    page = unit_page(layer, unit.unit)
    nav = _neighbours(site, page, (unit_page(layer, before.unit), f"unit {before.unit}") if before else None,
                      (unit_page(layer, after.unit), f"unit {after.unit}") if after else None)
    head = "".join(f'<link rel="{rel}" href="{site.to_site(page, unit_page(layer, other.unit))}">'
                   for rel, other in (("prev", before), ("next", after)) if other is not None)
    label = f" {unit.label}" if unit.label else ""
    objective = _objectives([unit])
    body = (f"<header>{nav}{_crumbs(site, page, title, layer)}<h1>unit {unit.unit}{escape(label)}</h1>"
            f'<div class="meta"><span>layer <b>{escape(layer)}</b></span>'
            + (f"<span>objective <b>{escape(objective)}</b></span>" if objective else "")
            + (f"<span>activation <b>{format_value(unit.activation)}</b></span>" if unit.activation is not None else "")
            + (f'<span class="score" title="{escape(_SCORE_NOTE)}">explanation score <b>{escape(_score_text(scores))}'
               "</b></span>" if scores else "")
            + (f'<span class="incomplete">incomplete: only {unit.incomplete} (the run was cut short; continue it to '
               "finish this unit)</span>" if unit.incomplete else "")
            + f"</div></header><main>{unit_view(unit, examples, site.files, site.folder_of(page), PAGE_SIZES)}"
            + f"{over_training_view(unit, site.files, site.folder_of(page))}</main>")
    site.document(page, f"unit {unit.unit}{label} · {layer} · {title}", body, script=_UNIT_KEYS_SCRIPT, head=head)


def build_site(run_dir: AnyPath, out: str = "site") -> Location:
    """Write the atlas site of ``run_dir`` into ``run_dir/out`` (see the module docstring); returns the model page.

    Reads ``index.json`` when the run has one, else the unit records written so far. Raises
    :class:`~lit_actmax.errors.ConfigError` when the folder holds no unit records. ``run_dir`` may be an fsspec URL.
    """
    run_dir = location(run_dir, "run_dir")
    index, records = load_run(run_dir)
    site = _Site(run_dir, run_dir / out)
    site.site_dir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(site.site_dir / "site.css", STYLE.lstrip())
    layers = group_units(index, records)
    order = list(layers)
    examples = load_examples(run_dir)
    scores = read_explanation_scores(run_dir)
    thumbs = {(layer, u.unit): site.thumbnail(u.shown) for layer, units in layers.items() for u in units}
    title = str(index.get("backbone") or run_dir.name)
    _model_page(site, index, records, layers, thumbs, examples, scores)
    for position, (layer, units) in enumerate(layers.items()):
        neighbours = (order[position - 1] if position > 0 else None,
                      order[position + 1] if position + 1 < len(order) else None)
        layer_examples = examples.get(layer)
        _layer_page(site, title, layer, units, thumbs, neighbours, index, layer_examples, scores.get(layer))
        per_unit = (layer_examples or {}).get("units") or {}
        unit_scores = (scores.get(layer) or {}).get("units") or {}
        for i, unit in enumerate(units):
            _unit_page(site, title, unit, units[i - 1] if i > 0 else None, units[i + 1] if i + 1 < len(units) else None,
                       per_unit.get(str(unit.unit)), unit_scores.get(str(unit.unit)))
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
