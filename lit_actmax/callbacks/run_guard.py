"""``RunGuard``: what a failed fit leaves behind: the user's model as it came, no empty run folder, and on every rank
of a multi-process run the failing rank's sentence.

:class:`~lit_actmax.lightning.module.ActMaxModule` adds it to every Trainer it is fit with (``configure_callbacks``): Lightning
does not call the module's ``teardown`` when a fit raises, but it calls every callback's ``on_exception``.

A failure is told to the other ranks through :class:`~lit_actmax.lightning.rank_sync.RankSync`: the failing rank posts
its sentence and exit code (and ends its process group, so a peer waiting for it in a collective is freed at once),
cleans up, and waits until every peer stopped; a peer stops at its next step with
:class:`~lit_actmax.errors.RankFailureError` (the same sentence), or, when a collective failed under it first, gets that
sentence as its error's explanation (:func:`~lit_actmax.exits.explain`), which ``lit-actmax`` prints. Running out of
memory or disk space is explained the same way (:mod:`lit_actmax.core.resources`). A stop that every rank took
together (Ctrl-C, SIGTERM at an agreed step) is no failure and is not posted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import override

from ..core.resources import resource_sentence
from ..errors import ActMaxError, RankFailureError
from ..exits import EXIT_ERROR, EXIT_PREEMPTED, explain
from ..lightning.package import pl
from ..lightning.rank_sync import rank_sync_of
from ..run.folders import remove_if_unused
from .base import ActMaxCallback
from .stop_signals import Interrupted

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["RunGuard", "failure_of"]

#: Exit code of a process that failed on a bug (Python's, with the traceback).
EXIT_BUG = 1
_LOST_CONNECTION = ("connection closed by peer", "connection reset", "broken pipe", "connection refused")


class RunGuard(ActMaxCallback):
    """On any exception in ``fit`` (KeyboardInterrupt included): tell the other ranks (see the module docstring), remove
    the probe's hooks and give a user's own backbone back as it came; on global rank 0, remove the run folder if no
    unit was finished in it (nothing but the saved config). It keeps no state and runs after the other callbacks'
    ``on_exception``."""

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: ActMaxModule, exception: BaseException) -> None:
        sync = rank_sync_of(trainer)
        posted = sync.failure() if not isinstance(exception, RankFailureError) else None
        own = None
        if posted is not None and posted.rank != sync.rank:  # a collective failed under this rank: that rank's sentence
            told = posted.error(sync.world_size)
            explain(exception, str(told), told.exit_code)
        elif not isinstance(exception, RankFailureError):
            own = failure_of(exception, sync.world_size)
            if own is not None:
                sentence, exit_code, needs_explaining = own
                if needs_explaining:
                    explain(exception, sentence, exit_code)
                sync.publish_failure(sentence, exit_code)  # first: the others learn it while this rank cleans up
        pl_module.renderer.detach()
        if pl_module.run_dir is not None and trainer.is_global_zero:
            remove_if_unused(pl_module.run_dir)
        if own is not None:
            sync.wait_handled()
        elif posted is not None or isinstance(exception, RankFailureError):
            sync.handled()
        sync.close()


def failure_of(exception: BaseException, world_size: int = 1) -> tuple[str, int, bool] | None:
    """``(sentence, exit code, whether the sentence must be attached)`` of ``exception`` as this rank's own failure, or
    None for a stop that every rank took together (Ctrl-C or SIGTERM at an agreed step, or one process)."""
    if isinstance(exception, (KeyboardInterrupt, SystemExit)):
        together = isinstance(exception, Interrupted) or getattr(exception, "every_rank", False) or world_size == 1
        if together:
            return None
        if isinstance(exception, KeyboardInterrupt):
            return "Stopped by Ctrl-C in the middle of a step", EXIT_BUG, False
        code = exception.code if isinstance(exception.code, int) and exception.code else EXIT_PREEMPTED
        return "Stopped by SIGTERM in the middle of a step", code, False
    if isinstance(exception, ActMaxError):
        return str(exception), getattr(exception, "exit_code", EXIT_ERROR), False
    sentence = resource_sentence(exception)
    if sentence is not None:
        return sentence, EXIT_ERROR, True
    first = (str(exception).strip().splitlines() or [""])[0]
    if world_size > 1 and any(text in first.lower() for text in _LOST_CONNECTION):
        return (f"Lost contact with another rank, whose process ended without a word (killed, out of memory or its "
                f"node lost: {type(exception).__name__}: {first[-120:]}); resume from the run's last checkpoint",
                EXIT_ERROR, True)
    return f"{type(exception).__name__}: {first}; its traceback is in that rank's output", EXIT_BUG, False

