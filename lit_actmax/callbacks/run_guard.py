"""``RunGuard``: what a failed fit leaves behind: the user's model as it came, and no empty run folder.

:class:`~lit_actmax.lightning.module.ActMaxModule` adds it to every Trainer it is fit with (``configure_callbacks``): Lightning
does not call the module's ``teardown`` when a fit raises, but it calls every callback's ``on_exception``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytorch_lightning as pl
from typing_extensions import override

from ..run.folders import remove_if_unused
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["RunGuard"]


class RunGuard(ActMaxCallback):
    """On any exception in ``fit`` (KeyboardInterrupt included): remove the probe's hooks and give a user's own
    backbone back as it came; on global rank 0, remove the run folder if no unit was finished in it (nothing but
    the saved config). It keeps no state and runs after the other callbacks' ``on_exception``."""

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: ActMaxModule, exception: BaseException) -> None:
        pl_module.renderer.detach()
        if pl_module.run_dir is not None and trainer.is_global_zero:
            remove_if_unused(pl_module.run_dir)
