"""How ``lit-actmax`` ends: its exit codes, the stop a SIGTERM makes, and the one sentence of an error that is not an
:class:`~lit_actmax.errors.ActMaxError` (running out of memory, a collective broken by another process's failure).

=====  ==========================================================================================================
code   meaning
=====  ==========================================================================================================
0      the run is complete: every unit asked for is on disk, with ``index.json``
1      a bug: Python's traceback (on the process that had it; the others print its first line and exit 1 too)
2      a setting, an input or a resource that cannot work: one sentence (:data:`EXIT_ERROR`)
75     stopped by SIGTERM (a scheduler's preemption) after saving what it could; the same command continues it
       (:data:`EXIT_PREEMPTED`, ``EX_TEMPFAIL`` of ``sysexits.h``: "temporary failure, try again")
1      interrupted by Ctrl-C (Lightning's exit code)
=====  ==========================================================================================================
"""

from __future__ import annotations

__all__ = ["EXIT_ERROR", "EXIT_PREEMPTED", "Preempted", "explain", "explanation"]

#: The exit code of ``lit-actmax`` when a setting, an input or a resource cannot work (one sentence, no traceback).
EXIT_ERROR = 2
#: The exit code of a run stopped by SIGTERM (a scheduler's preemption): what it finished is on disk, the rest is not
#: done; the same command continues it (``--ckpt_path`` of the checkpoint it names, or a continued folder as it is).
EXIT_PREEMPTED = 75


class Preempted(SystemExit):
    """A run stopped by SIGTERM, after saving what it could: ``SystemExit`` with :data:`EXIT_PREEMPTED`, so a scheduler or
    a script can tell it from a finished run (0) and from a failure (1, 2). ``every_rank``: every process of the run
    stopped after the same optimizer step (so one checkpoint of all of them can be saved)."""

    def __init__(self, every_rank: bool = True) -> None:
        super().__init__(EXIT_PREEMPTED)
        self.every_rank = every_rank


def explain(error: BaseException, sentence: str, exit_code: int = EXIT_ERROR) -> None:
    """Give ``error`` (raised mid-run, of a type that is not an ``ActMaxError``: running out of memory, or a lost
    connection because another process failed) the one sentence the command line prints instead of its traceback,
    and the exit code; in a traceback the sentence shows as a note (Python 3.11+)."""
    error.lit_actmax_explanation = (sentence, int(exit_code))  # type: ignore[attr-defined]
    if hasattr(error, "add_note"):
        error.add_note(f"lit_actmax: {sentence}")


def explanation(error: BaseException) -> tuple[str, int] | None:
    """The ``(sentence, exit code)`` that :func:`explain` gave ``error``, or None."""
    found = getattr(error, "lit_actmax_explanation", None)
    return found if isinstance(found, tuple) else None
