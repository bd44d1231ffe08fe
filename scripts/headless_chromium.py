"""Headless Chromium, offline and quiet, for the scripts and the browser tests (tests/conftest.py loads this file).

    browser = find_browser()                       # None when no chromium is installed (scripts/ensure_chromium.sh)
    run_headless(browser, profile, "--dump-dom", page.as_uri())
    load_ms(dump_dom(browser, page, profile, LAZY_LOADING))  # a site page's own load time (site.LOAD_TIME_SCRIPT)
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["BROWSERS", "LAZY_LOADING", "find_browser", "run_headless", "dump_dom", "screenshot", "load_ms"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Headless Chromium loads ``loading="lazy"`` images at once (complete screenshots); this turns lazy loading on, as
#: in a desktop browser, for load times a user would see.
LAZY_LOADING = "--blink-settings=lazyLoadEnabled=true"


def find_browser() -> str | None:
    """The path of the first Chromium on ``PATH``, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run_headless(browser: str, profile: Path, *arguments: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run headless ``browser`` with the profile folder ``profile`` (fresh: no cache), offline and quiet."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
               f"--user-data-dir={profile}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def dump_dom(browser: str, page: str | Path, profile: Path, *arguments: str, size: str = "1280,900") -> str:
    """The DOM of ``page`` (a file or a URL) after its load event, as HTML text."""
    url = page.resolve().as_uri() if isinstance(page, Path) else page
    result = run_headless(browser, profile, f"--window-size={size}", *arguments, "--dump-dom", url)
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {result.stderr[-2000:]}")
    return result.stdout


def screenshot(browser: str, page: str | Path, out: Path, profile: Path, size: str = "1280,1400",
               *arguments: str) -> Path:
    """A PNG screenshot of ``page`` (a file or a URL) at window ``size`` ("width,height") into ``out``."""
    url = page.resolve().as_uri() if isinstance(page, Path) else page
    result = run_headless(browser, profile, "--hide-scrollbars", f"--window-size={size}", f"--screenshot={out}",
                          *arguments, url)
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"chromium made no screenshot of {url}: {result.stderr[-2000:]}")
    return out


def load_ms(dom: str) -> float | None:
    """The load time a site page wrote into ``<html data-load-ms="...">``, in ms (None when it did not)."""
    match = re.search(r'<html[^>]*\sdata-load-ms="([0-9.]+)"', dom)
    return float(match.group(1)) if match else None
