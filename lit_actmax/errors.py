"""The errors lit_actmax raises for a user's mistake: one hierarchy, one base class.

Every error here means "the input cannot work" and its message is one sentence that says what is wrong and what
to do. The command line catches :class:`ActMaxError` and prints the message without a traceback; anything else
is a bug and keeps its traceback. Each subclass is a ``ValueError``, so ``except ValueError`` still catches them.
"""

from __future__ import annotations

from .exits import EXIT_ERROR

__all__ = [
    "ActMaxError", "ConfigError", "BackboneError", "ProbeError", "ShardError", "UnitSpecError", "DivergenceError",
    "ResourceError", "RankFailureError",
]



class ActMaxError(ValueError):
    """Base class: a setting or input that cannot work; the message says what to change."""


class ConfigError(ActMaxError):
    """A setting of the run that cannot work (sizes, units out of range, Trainer settings, a checkpoint)."""


class BackboneError(ActMaxError):
    """A backbone spec that cannot be loaded (unknown name, missing weights, wrong checkpoint class)."""


class ProbeError(ActMaxError):
    """A layer name that does not exist in the backbone, or a layer the forward pass never reaches."""


class ShardError(ActMaxError):
    """A multi-process checkpoint that does not fit this run's processes."""


class UnitSpecError(ActMaxError):
    """A unit selection such as ``"0-9"`` or ``"1,5,9"`` that cannot be parsed."""


class DivergenceError(ActMaxError):
    """Images whose loss, activation, gradient or parameters became NaN or infinite while optimizing; the message names
    the units, the step in their group and the likely cause (the learning rate, a regularizer, the objective)."""


class ResourceError(ActMaxError):
    """The machine ran out of something the run needs (memory, disk space, an accelerator); the message says what to
    change (a smaller batch or size, another folder, ``accelerator: cpu``)."""


class RankFailureError(ActMaxError):
    """Another process of a multi-process run failed or was lost; the message is that process's sentence, so every
    process stops with the same one. ``exit_code`` is the code the failing process exits with (1 for a bug, whose
    traceback is in that process's output)."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)
