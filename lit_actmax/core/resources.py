"""Running out of a resource, told in one sentence: memory, disk space, a file size limit.

torch and the operating system report these in their own words (``DefaultCPUAllocator: can't allocate memory``,
``CUDA out of memory``, ``[Errno 28] No space left on device``, ``PytorchStreamWriter failed writing file``), deep in
a traceback. :func:`resource_sentence` recognizes them and says what to change; :func:`resource_error` is the same as
a :class:`~lit_actmax.errors.ResourceError`. Plain Python: the module's checks before a run and the failure handling
during one (:class:`~lit_actmax.callbacks.run_guard.RunGuard`) both use it.
"""

from __future__ import annotations

import errno
import re

from ..errors import ResourceError

__all__ = ["resource_error", "resource_sentence"]

_MEMORY = ("can't allocate memory", "out of memory", "cannot allocate memory", "failed to allocate")
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def resource_sentence(error: BaseException, what: str = "The run") -> str | None:
    """One sentence for ``error`` if it means a resource ran out (``what`` ran out of it), else None."""
    text = str(error).lower()
    if isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and any(m in text for m in _MEMORY)):
        device = "GPU" if "cuda" in text or type(error).__name__ == "OutOfMemoryError" else "CPU"
        asked = _asked_for(str(error))
        return (f"{what} ran out of {device} memory{asked}; use a smaller batch_size, size or number of variants (or a "
                "device with more memory).")
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
        where = f" writing {error.filename}" if error.filename else ""
        return f"{what} ran out of disk space{where}; free some space or pick another out_dir (or run_dir)."
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        where = f" {error.filename}" if error.filename else " a file"
        return (f"{what} could not write{where}: it would exceed the file size limit (ulimit -f); raise the limit or "
                "pick another out_dir.")
    if isinstance(error, RuntimeError) and "failed writing file" in text:  # torch.save's writer gives no errno
        return (f"{what} could not write a checkpoint ({_first_line(error)}): the disk is full or a file size limit "
                "(ulimit -f) was reached; free some space or pick another out_dir or checkpoint dirpath.")
    return None


def resource_error(error: BaseException, what: str = "The run") -> ResourceError | None:
    """:func:`resource_sentence` as an error to raise ``from error``, or None."""
    sentence = resource_sentence(error, what)
    return ResourceError(sentence) if sentence is not None else None


def _asked_for(text: str) -> str:
    """`` (it tried to allocate 40.0 GB)`` from torch's allocator messages, or nothing."""
    found = re.search(r"allocate (\d+) bytes", text)
    if found:
        size, unit = float(found.group(1)), "bytes"
        for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
            if size < 1000 or unit == "PB":
                break
            size /= 1000
        return f" (it tried to allocate {size:.1f} {unit})" if unit != "bytes" else f" (it tried to allocate {int(size)} bytes)"
    found = re.search(r"[Tt]ried to allocate ([\d.]+ ?[KMGT]i?B)", text)
    return f" (it tried to allocate {found.group(1)})" if found else ""


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
