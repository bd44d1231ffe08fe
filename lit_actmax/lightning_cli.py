"""``lit-actmax fit``: LightningCLI over :class:`~lit_actmax.module.ActMaxModule`.

The optimizer is injected as a factory of the image parameters (``auto_configure_optimizers=False``), and the
resolved config is saved into the run folder rather than the Trainer's log folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback
from typing_extensions import override

from .module import ActMaxModule

__all__ = ["ActMaxCLI", "SaveConfigToRun", "TRAINER_DEFAULTS"]

TRAINER_DEFAULTS = {
    "num_sanity_val_steps": 0,
    "use_distributed_sampler": False,
    "log_every_n_steps": 1,
}


class SaveConfigToRun(SaveConfigCallback):
    """Save the resolved config as ``config.yaml`` into the run directory (global rank 0), once."""

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        pass

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        run_dir = pl_module.run_dir if isinstance(pl_module, ActMaxModule) else None
        if self.already_saved or run_dir is None:
            return
        if trainer.is_global_zero:
            path = Path(run_dir) / self.config_filename
            name = self.config_filename if not path.exists() else f"config_resumed_{trainer.current_epoch}.yaml"
            self.parser.save(self.config, str(Path(run_dir) / name), skip_none=False, overwrite=False, multifile=False)
            self.save_config(trainer, pl_module, "fit")
        self.already_saved = True


class ActMaxCLI(LightningCLI):
    """LightningCLI over :class:`ActMaxModule` with the optimizer injected as a factory of image parameters."""

    def __init__(self, args: Sequence[str] | None = None, run: bool = True) -> None:
        super().__init__(
            ActMaxModule,
            trainer_defaults=TRAINER_DEFAULTS,
            auto_configure_optimizers=False,
            save_config_callback=SaveConfigToRun,
            save_config_kwargs={"overwrite": False},
            parser_kwargs={"prog": "lit-actmax", "description": (
                "Feature visualization with PyTorch Lightning. Subcommands: fit (render units; LightningCLI), "
                "layers SPEC (list hookable layers), gallery RUN_DIR (HTML gallery), examples RUN_DIR --images DIR "
                "(dataset examples).")},
            args=args,
            run=run,
        )
