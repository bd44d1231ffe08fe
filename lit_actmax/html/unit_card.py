"""The HTML of one unit from its records: per variant its image and every image file its record lists (best, GIF,
transparency, ...) that exists, its activation curve; then its dataset examples, its numbers (a column per variant)
and download links for its other files. The gallery's cards and the site's unit pages both draw a unit with
:func:`unit_view`, at the sizes of :data:`CARD_SIZES` or :data:`PAGE_SIZES`. Plain Python."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .curves import curve_box
from .markup import RunFiles, escape, format_value
from .records import Unit, is_alpha_file, ordered_files, record_numbers

__all__ = ["UnitSizes", "CARD_SIZES", "PAGE_SIZES", "BROWSER_IMAGE_SUFFIXES", "unit_view", "image_figure",
           "examples_strip", "numbers_table"]

#: Files a browser draws as images; a record's other files become download links.
BROWSER_IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".webp", ".svg")


@dataclass(frozen=True)
class UnitSizes:
    """How large :func:`unit_view` draws a unit, in CSS pixels."""

    image: int  #: longest side of each image (pixels kept sharp)
    curve: tuple[int, int]  #: width and height of the activation curve
    example: int  #: side of each dataset example
    numbers_open: bool  #: whether the table of numbers starts open


#: A unit in the gallery's card grid.
CARD_SIZES = UnitSizes(image=100, curve=(150, 44), example=52, numbers_open=False)
#: A unit on its own page of the site.
PAGE_SIZES = UnitSizes(image=256, curve=(360, 90), example=96, numbers_open=True)


def image_figure(files: RunFiles, page_dir: str | os.PathLike, relative: str, caption: str, title: str, side: int,
                 size: Any = None, alpha: bool = False, lazy: bool = False) -> str:
    """A run image drawn with longest side ``side`` (``size``: its ``[height, width]``, else drawn in a square),
    linking to the file itself, with ``caption`` under it; a transparency map (``alpha``) over a checkerboard."""
    width = height = side
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        scale = side / max(size)
        height, width = round(size[0] * scale), round(size[1] * scale)
    url = files.url(relative, page_dir)
    loading = ' loading="lazy"' if lazy else ""
    return (f'<figure><a href="{url}"><img class="{"unit alpha" if alpha else "unit"}" src="{url}" width="{width}" '
            f'height="{height}" alt="{escape(title)}" title="{escape(title)}"{loading}></a>'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def examples_strip(examples: dict[str, Any] | None, files: RunFiles, page_dir: str | os.PathLike, side: int) -> str:
    """A unit's most (and least) activating dataset images that exist (``examples.json``'s entry for the unit)."""
    strips = []
    for kind, caption in (("top", "most activating dataset images"), ("bottom", "least activating dataset images")):
        entries = [e for e in (examples or {}).get(kind, []) if files.exists(e.get("image"))]
        if entries:
            images = "".join(f'<img src="{files.url(e["image"], page_dir)}" width="{side}" height="{side}" '
                             f'loading="lazy" alt="{escape(e.get("source", ""))}" '
                             f'title="{escape(e.get("source", ""))}: {escape(format_value(e.get("activation")))}">'
                             for e in entries)
            strips.append(f'<div class="examples"><h3>{caption}</h3>{images}</div>')
    return "".join(strips)


def numbers_table(records: Sequence[dict[str, Any]]) -> str:
    """A unit's numbers (activation, steps, seed, callbacks' fields): a row per name, a column per variant."""
    columns = [dict(record_numbers(r)) | {key: r[key] for key in ("steps", "seed") if key in r} for r in records]
    names = list(dict.fromkeys(name for column in columns for name in column))
    head = ("<tr><th></th>" + "".join(f"<th>variant {escape(r.get('variant', 0))}</th>" for r in records) + "</tr>"
            if len(records) > 1 else "")
    rows = "".join(f"<tr><td>{escape(name)}</td>"
                   + "".join(f"<td>{escape(format_value(c[name])) if c.get(name) is not None else '–'}</td>"
                             for c in columns) + "</tr>" for name in names)
    return f'<table class="numbers">{head}{rows}</table>'


def unit_view(unit: Unit, examples: dict[str, Any] | None, files: RunFiles, page_dir: str | os.PathLike,
              sizes: UnitSizes, lazy: bool = False) -> str:
    """A unit's variants (``<section class="variant">`` each: images, the first captioned with its variant when
    there are several, and curve), dataset examples, and numbers with the download links of its other files, for a
    page in the folder ``page_dir``; ``lazy`` images load when scrolled to."""
    sections, downloads = [], []
    for record in unit.records:
        tag = f"variant {record.get('variant', 0)}" if unit.several else ""
        name_of = f"unit {unit.unit}" + (f" {tag}" if tag else "")
        size = record.get("size")
        figures = []
        if files.exists(record.get("image")):
            title = f"{name_of}: activation {format_value(record.get('activation'))}"
            figures.append(image_figure(files, page_dir, record["image"], tag or "image", title, sizes.image, size,
                                        lazy=lazy))
        for name, relative in ordered_files(record):
            if not files.exists(relative):
                continue
            if Path(relative).suffix.lower() in BROWSER_IMAGE_SUFFIXES:
                shape = record.get("best_size", size) if name in ("best", "final") else record.get(f"{name}_size", size)
                figures.append(image_figure(files, page_dir, relative, name, f"{name_of}: {name}", sizes.image, shape,
                                            alpha=is_alpha_file(name), lazy=lazy))
            else:
                downloads.append(f'<a href="{files.url(relative, page_dir)}" download>{escape(f"{tag} {name}".strip())}</a>')
        json_record = Path(str(record.get("image", ""))).with_suffix(".json").as_posix()
        if files.exists(json_record):
            downloads.append(f'<a href="{files.url(json_record, page_dir)}">{escape(f"{tag} record".strip())}</a>')
        sections.append(f'<section class="variant"><div class="figures">{"".join(figures)}</div>'
                        f"{curve_box(record, *sizes.curve)}</section>")
    links = f'<p class="files">{" ".join(downloads)}</p>' if downloads else ""
    numbers = (f'<details class="numbers"{" open" if sizes.numbers_open else ""}><summary>numbers</summary>'
               f"{numbers_table(unit.records)}{links}</details>")
    return "".join(sections) + examples_strip(examples, files, page_dir, sizes.example) + numbers
