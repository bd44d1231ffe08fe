"""Small pieces of HTML the gallery and the site share: escaping, relative URLs to a run's files, numbers for display,
the run's settings and metrics, and the local files a page refers to. Plain Python."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote, unquote

from ..run.files import strict_json
from ..run.storage import AnyPath, location, relative_path
from .records import flat_numbers

__all__ = ["escape", "file_url", "format_value", "RunFiles", "settings_spans", "config_details", "metrics_table",
           "referenced_files"]


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


class RunFiles:
    """A run folder's files as pages see them: which exist (each looked up once), and their URLs from a page's folder.

    Paths are relative to the run folder, as records store them (``images/features.2/unit_00001.png``).
    """

    def __init__(self, run_dir: AnyPath) -> None:
        self.run_dir = location(run_dir)
        self._exists: dict[str, bool] = {}

    def exists(self, relative: Any) -> bool:
        """Whether ``relative`` (a path from a record; anything else is not) is a file of the run."""
        if not isinstance(relative, str) or not relative:
            return False
        if relative not in self._exists:
            self._exists[relative] = (self.run_dir / relative).is_file()
        return self._exists[relative]

    def url(self, relative: str, page_dir: AnyPath) -> str:
        """The URL of the run file ``relative`` from a page in the folder ``page_dir`` (on the run's filesystem)."""
        return file_url(relative_path(self.run_dir / relative, page_dir))


def settings_spans(settings: Sequence[tuple[str, Any]]) -> str:
    """``(name, value)`` pairs as ``<span>name: <b>value</b></span>`` (for a header's ``.meta``)."""
    return "".join(f"<span>{escape(name)}: <b>{escape(value)}</b></span>" for name, value in settings)


def config_details(index: dict[str, Any]) -> str:
    """The run's ``config`` as a collapsed ``<details>`` block of JSON, or '' when the index has none."""
    if not index.get("config"):
        return ""
    text = json.dumps(strict_json(index["config"]), indent=1, allow_nan=False, default=str)
    return f"<details><summary>config</summary><pre>{escape(text)}</pre></details>"


def metrics_table(index: dict[str, Any]) -> str:
    """The run-level ``metrics`` of an index as an HTML table (one row per metric, its numbers side by side), or ''."""
    rows = []
    for group, values in (index.get("metrics") or {}).items():
        cells = [f"<td>{escape(name)} <b>{escape(format_value(v))}</b></td>" if name
                 else f"<td><b>{escape(format_value(v))}</b></td>" for name, v in flat_numbers(values)]
        if cells:
            rows.append(f"<tr><th>{escape(group)}</th>{''.join(cells)}</tr>")
    return f'<table class="metrics">{"".join(rows)}</table>' if rows else ""


def referenced_files(document: str) -> list[str]:
    """Every local ``src``/``href`` of an HTML document (anchors and data URLs excluded), URL-decoded."""
    links = re.findall(r'(?:src|href)="([^"]+)"', document)
    return [unquote(link) for link in links if not link.startswith(("#", "data:", "http:", "https:"))]
