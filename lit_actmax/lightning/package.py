"""The Lightning package this process runs on: ``lightning`` (``lightning.pytorch``) or ``pytorch_lightning``.

Every Lightning-side module of lit_actmax (``lightning/``, ``callbacks/``, ``cli/``) imports Lightning from here and
never by package name, so one code base serves both: ``from lit_actmax.lightning.package import pl, ModelCheckpoint``.
``pl`` is ``lightning.pytorch`` or ``pytorch_lightning``; every other name is loaded from it on first use.

The package is chosen once, when this module is first imported, without configuration
(:mod:`lit_actmax.lightning.package_choice`: the one the process imported, else ``pytorch_lightning``, else
``lightning``; ``LIT_ACTMAX_LIGHTNING`` decides where set). A process that imports both gets one sentence naming the
fix, here and when an ``ActMaxModule`` is built (:func:`check_single_package`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .package_choice import PACKAGES, chosen_package, is_imported, mixed_sentence

if TYPE_CHECKING:  # what type checkers see; at run time the chosen package's objects (NAMES, __getattr__)
    import pytorch_lightning as pl
    from lightning_fabric.utilities.apply_func import apply_to_collection, move_data_to_device
    from pytorch_lightning import LightningModule, Trainer
    from pytorch_lightning.callbacks import ModelCheckpoint, ProgressBar, TQDMProgressBar
    from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm
    from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
    from pytorch_lightning.loggers import Logger
    from pytorch_lightning.strategies import DDPStrategy, StrategyRegistry
    from pytorch_lightning.trainer import call
    from pytorch_lightning.trainer.states import TrainerFn
    from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

#: Where the names importable from this module live: a submodule of the Trainer's package (``fabric:``, of the Fabric
#: package) -> its names.
SUBMODULES = {
    "": ("LightningModule", "Trainer"),
    "callbacks": ("ModelCheckpoint", "ProgressBar", "TQDMProgressBar"),
    "callbacks.progress.tqdm_progress": ("Tqdm",),
    "utilities": ("rank_zero_info", "rank_zero_warn"),
    "strategies": ("DDPStrategy", "StrategyRegistry"),
    "trainer": ("call",),
    "trainer.states": ("TrainerFn",),
    "loggers": ("Logger",),
    "cli": ("LightningArgumentParser", "LightningCLI", "SaveConfigCallback"),
    "fabric:utilities.apply_func": ("apply_to_collection", "move_data_to_device"),
}
#: Name -> its submodule.
NAMES = {name: submodule for submodule, names in SUBMODULES.items() for name in names}

__all__ = [  # the helper, then every name of SUBMODULES
    "PACKAGE", "pl", "check_single_package", "LightningModule", "Trainer", "ModelCheckpoint", "ProgressBar",
    "TQDMProgressBar", "Tqdm", "rank_zero_info", "rank_zero_warn", "DDPStrategy", "StrategyRegistry", "call", "TrainerFn",
    "Logger", "LightningArgumentParser", "LightningCLI", "SaveConfigCallback", "apply_to_collection", "move_data_to_device",
]


def check_single_package() -> None:
    """Raise ``ConfigError`` if the process now imports the other Lightning package too (an ``ActMaxModule`` built
    after ``import lightning`` in a process whose lit_actmax runs on ``pytorch_lightning``, or the reverse)."""
    if any(is_imported(name) for name in PACKAGES if name != PACKAGE):
        raise ConfigError(mixed_sentence(PACKAGE))


PACKAGE = chosen_package()
if not TYPE_CHECKING:
    pl = importlib.import_module(PACKAGES[PACKAGE][0])


def __getattr__(name: str) -> Any:
    if name not in NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    side, _, submodule = NAMES[name].rpartition(":")
    root = PACKAGES[PACKAGE][1 if side == "fabric" else 0]
    value = getattr(importlib.import_module(f"{root}.{submodule}" if submodule else root), name)
    globals()[name] = value
    return value
