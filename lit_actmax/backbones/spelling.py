"""The `` Did you mean ...?`` hint of a backbone or model name that does not exist."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` Did you mean 'a', 'b'?`` with up to three close names of ``known``, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(known), n=3)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
