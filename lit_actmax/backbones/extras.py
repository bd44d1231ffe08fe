"""The optional libraries behind ``"timm:..."``, ``"open_clip:..."`` and ``"transformers:..."`` specs.

Each is a pip extra of lit_actmax (``pip install 'lit_actmax[timm]'``, ``[clip]``, ``[transformers]``) and is
imported only when a spec names it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from types import ModuleType
from typing import Iterator

from ..errors import BackboneError

__all__ = ["LIBRARY_PREFIXES", "import_library", "quiet_loggers"]

#: spec prefix -> (import name, pip extra)
LIBRARY_PREFIXES = {"timm": ("timm", "timm"), "open_clip": ("open_clip", "clip"), "transformers": ("transformers", "transformers")}


def import_library(prefix: str, name: str) -> ModuleType:
    """The library of the spec ``"<prefix>:<name>"``, imported; one sentence when ``name`` is empty or the library
    is not installed."""
    if not name:
        spec = f"{prefix}:"
        raise BackboneError(f"Backbone spec {spec!r} names no model: use '{prefix}:<name>'.")
    module_name, extra = LIBRARY_PREFIXES[prefix]
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise BackboneError(
            f"Backbone '{prefix}:...' needs the package {module_name} ({error}): pip install 'lit_actmax[{extra}]'."
        ) from None


@contextlib.contextmanager
def quiet_loggers(*loggers: str) -> Iterator[None]:
    """Inside the block the named loggers report errors only (a library's warnings about its own defaults)."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)
