"""Quiet by default: the one place that silences what Lightning prints in every lit_actmax run and nobody can act on.

Two kinds of noise, each silenced precisely (by the start of its message), never a category or a whole logger:

- :data:`EXPECTED_WARNINGS`: warnings that are wrong or expected for activation maximization (the backbone is
  frozen in eval mode on purpose, the "dataset" is a step counter, :class:`~lit_actmax.lightning.module.ActMaxModule` sets
  ``max_epochs`` itself, ...). Each is a message regex for :func:`warnings.filterwarnings`.
- Lightning's advertisements ("💡 Tip: ... try installing litlogger / litmodels"), logged at INFO by its rank-zero
  logger on every Trainer, and its "`Trainer.fit` stopped: `max_epochs=N` reached" (an ActMaxModule's epochs are
  its own bookkeeping; the module ends a run by saying where its images are): :class:`DropLightningTips` is a
  :class:`logging.Filter` on that logger (Lightning has no flag or environment variable for them).

:func:`quiet_lightning` installs both; importing :mod:`lit_actmax.lightning.module` calls it (a Trainer built for an
``ActMaxModule`` warns about ``max_epochs`` in its constructor, before any hook of the module runs), and the
``lit-actmax`` command calls it before anything else. Plain Python, no Lightning import: ``lit-actmax --help``
stays light.
"""

from __future__ import annotations

import logging
import warnings

__all__ = ["DROPPED_MESSAGES", "EXPECTED_WARNINGS", "TIP_PREFIX", "DropLightningTips", "quiet_expected_warnings", "quiet_lightning",
           "quiet_lightning_tips"]

#: Warnings that are expected in every run and would only hide the messages that matter (regexes matched
#: against the start of the message).
EXPECTED_WARNINGS = (
    # the backbone is frozen and stays in eval mode (BatchNorm statistics never change)
    r"Found \d+ module\(s\) in eval mode at the start of training",
    # an epoch's "dataset" is its step indices (StepIndices): its length is exact, workers would not help
    r"Your `IterableDataset` has `__len__` defined",
    r"The 'train_dataloader' does not have many workers",
    # ActMaxModule sets max_epochs = groups of units x epochs per group (in setup, after the Trainer warned)
    r"`max_epochs` was not set\. Setting it to 1000 epochs",
    # Lightning logs every log_every_n_steps optimizer steps of the whole run, across epochs: nothing is lost
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    # batches are step counters: training_step reads the step from batch_idx, which Lightning restores
    r"You're resuming from a checkpoint that ended before the epoch ended",
    # Lightning's own code on a newer torch (pytorch_lightning/utilities/_pytree.py); nothing a user can change
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # dataset examples keep their top-k in metrics (examples.py): predict_step returns nothing on purpose
    r"predict returned None if it was on purpose",
)

#: How Lightning's advertisements start.
TIP_PREFIX = "💡 Tip:"
#: The starts of the INFO messages :class:`DropLightningTips` drops.
DROPPED_MESSAGES = (TIP_PREFIX, "`Trainer.fit` stopped: `max_epochs=")

#: The loggers Lightning's ``rank_zero_info`` writes to (the package sets the shared one on import), under either
#: Lightning package (lit_actmax.lightning.package).
_RANK_ZERO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                      "lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class DropLightningTips(logging.Filter):
    """Drops Lightning's "💡 Tip: try installing ..." advertisements and its "`max_epochs=N` reached" (the messages
    starting with one of :data:`DROPPED_MESSAGES`); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(DROPPED_MESSAGES)


def quiet_expected_warnings() -> None:
    """Ignore :data:`EXPECTED_WARNINGS` (idempotent: ``filterwarnings`` replaces an identical filter)."""
    for pattern in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def quiet_lightning_tips() -> None:
    """Install :class:`DropLightningTips` on Lightning's rank-zero loggers (once)."""
    for name in _RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropLightningTips) for f in logger.filters):
            logger.addFilter(DropLightningTips())


def quiet_lightning() -> None:
    """Both: ignore the expected warnings and drop the tips."""
    quiet_expected_warnings()
    quiet_lightning_tips()
