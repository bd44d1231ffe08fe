"""Redirect the backbone's ReLU/ReLU6 gradients during the first steps of every group of units (Lucid: 16).

The redirection itself is plain PyTorch (:mod:`lit_actmax.backbones.redirect`); this callback switches it on for the first
``steps`` optimizer steps of each group and off otherwise, so final images and evaluations see plain ReLUs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from ..backbones.redirect import ReluRedirection
from ..errors import ConfigError
from ..lightning.package import pl
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["RedirectReLU"]


class RedirectReLU(ActMaxCallback):
    """Redirect the backbone's ReLU/ReLU6 gradients during the first ``steps`` optimizer steps of every group.

    ``steps`` counts steps within a group of units (Lucid: 16). ``active`` tells whether the current step
    redirects; ``count`` how many modules were patched (0 means the backbone calls its activations as functions).
    """

    changes_images = True

    def __init__(self, steps: int = 16) -> None:
        super().__init__()
        if steps < 0:
            raise ConfigError(f"steps must be >= 0, got {steps}.")
        self.steps = int(steps)
        self.redirection = ReluRedirection(enabled=False)

    @property
    def active(self) -> bool:
        return bool(self.redirection.modules) and self.redirection.enabled

    @property
    def count(self) -> int:
        return len(self.redirection.modules)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        if not self.redirection.modules:
            self.redirection.patch(pl_module.renderer.backbone)
        self.redirection.enabled = False

    @override
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: ActMaxModule, batch: Any, batch_idx: int) -> None:
        # the module sets its own step_in_group after the callbacks' hook: ask the schedule for this batch's step
        step = pl_module.schedule.step_in_group(pl_module.current_epoch, batch_idx)
        self.redirection.enabled = step < self.steps

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.redirection.enabled = False  # final images and evaluations see plain ReLUs

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        self.redirection.remove()
