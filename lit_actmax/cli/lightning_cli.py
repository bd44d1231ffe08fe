"""``lit-actmax fit``: LightningCLI over :class:`~lit_actmax.lightning.module.ActMaxModule`.

The optimizer is injected as a factory of the image parameters (``auto_configure_optimizers=False``), and the
resolved config is saved into the run folder rather than the Trainer's log folder. Quiet by default: no logger
(so no ``lightning_logs/``) unless the config names one, no global ``seed_everything`` (every unit's randomness
comes from the module's ``seed``), only the ``fit`` subcommand, and a :class:`UnitProgressBar` unless the config
has another progress bar or ``enable_progress_bar: false``. Every option can also be set in the environment, as
LightningCLI's ``default_env`` offers it (``LIT_ACTMAX_FIT__MODEL__UNITS=0-15``; the command line wins).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from typing_extensions import override

from ..callbacks.unit_progress import UnitProgressBar
from ..errors import ActMaxError, ResourceError
from ..lightning.module import ActMaxModule
from ..lightning.package import LightningCLI, LightningModule, ProgressBar, SaveConfigCallback, Trainer
from ..run.checkpoint_state import check_checkpoint_file
from .config_errors import ConfigArgumentParser
from .fit_help import ENV_PREFIX

__all__ = ["ActMaxCLI", "SaveConfigToRun", "TRAINER_DEFAULTS", "actmax_cause", "missing_accelerator"]

TRAINER_DEFAULTS = {
    "num_sanity_val_steps": 0,
    "use_distributed_sampler": False,
    "log_every_n_steps": 1,
    "logger": False,  # a config that wants one names it (configs/callbacks/logger_images.yaml)
    "enable_model_summary": False,  # the frozen backbone's parameter table says nothing about the images
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
            path = run_dir / self.config_filename  # local or at a URL (jsonargparse writes those through fsspec)
            name = self.config_filename if not path.exists() else f"config_resumed_{trainer.current_epoch}.yaml"
            self.parser.save(self.config, str(run_dir / name), skip_none=False, overwrite=False, multifile=False)
            self.save_config(trainer, pl_module, "fit")
        self.already_saved = True


class ActMaxCLI(LightningCLI):
    """LightningCLI over :class:`ActMaxModule` with the optimizer injected as a factory of image parameters."""

    def __init__(self, args: Sequence[str] | None = None, run: bool = True) -> None:
        super().__init__(
            ActMaxModule,
            trainer_defaults=TRAINER_DEFAULTS,
            seed_everything_default=False,  # images depend on the module's seed only; no "Seed set to" chatter
            auto_configure_optimizers=False,
            parser_class=ConfigArgumentParser,
            save_config_callback=SaveConfigToRun,
            save_config_kwargs={"overwrite": False},
            parser_kwargs={"prog": "lit-actmax", "default_env": True, "env_prefix": ENV_PREFIX, "description": (
                "Feature visualization with PyTorch Lightning. Subcommands: fit (render units; LightningCLI), "
                "layers SPEC (list hookable layers), gallery RUN_DIR (HTML gallery), examples RUN_DIR --images DIR "
                "(dataset examples).")},
            args=args,
            run=run,
        )

    @staticmethod
    @override
    def subcommands() -> dict[str, set[str]]:
        """Only ``fit``: an ActMaxModule has no validation, test or predict step."""
        return {"fit": set(LightningCLI.subcommands()["fit"])}

    @override
    def instantiate_classes(self) -> None:
        """Build the module and the Trainer; a lit_actmax error raised while jsonargparse builds a class (a ``Direction``
        file that is not there) is raised as its own sentence, not inside jsonargparse's report of every type it tried."""
        try:
            super().instantiate_classes()
        except Exception as error:
            found = actmax_cause(error)
            if found is None or found is error:
                raise
            raise found from None

    @override
    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The Trainer, with a :class:`UnitProgressBar` unless the config disables the bar or brings its own."""
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        callbacks = config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        extra = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
        has_bar = any(isinstance(c, ProgressBar) for c in [*callbacks, *extra])
        if config.get("enable_progress_bar") is not False and not has_bar:
            kwargs["callbacks"] = [*callbacks, UnitProgressBar()]
        try:
            return super().instantiate_trainer(**kwargs)
        except Exception as error:  # Lightning's MisconfigurationException, or torch_xla missing
            missing = missing_accelerator(error, config.get("accelerator"), config.get("devices"))
            if missing is None:
                raise
            raise missing from None

    @override
    def _parse_ckpt_path(self) -> None:
        """Keep the config as given on a resume (``--ckpt_path``).

        LightningCLI (2.6, ``_parse_ckpt_path``) would parse the checkpoint's hyperparameters back over the parsed
        config, so a changed ``--model.units`` or ``--model.size`` was silently replaced by the checkpoint's value
        while the objects it does not save (objective, parameterization, transforms, optimizer) came from the new
        config. Here nothing is replaced: the module compares the checkpoint's fingerprint with the config it was
        given and refuses any difference with one sentence (``ActMaxModule.on_load_checkpoint``), so a resume
        takes the run's own config (``config.yaml`` in its run folder) plus ``--ckpt_path``. The file itself is
        checked here, before anything is built: a missing, corrupt or foreign file gets one sentence
        (:func:`~lit_actmax.run.checkpoint_state.check_checkpoint_file`).
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path:
            check_checkpoint_file(ckpt_path)


def missing_accelerator(error: BaseException, accelerator: Any, devices: Any) -> ResourceError | None:
    """One sentence for a Trainer that asks for an accelerator (or more devices) than the machine has, or None."""
    text = str(error)
    signs = ("No supported gpu backend", "can not run on your system", "not available", "your machine only has",
             "torch_xla", "You requested")
    if not any(sign in text for sign in signs):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    first = re.split(r"(?<=[.!])\s", first)[0].rstrip(".")  # Lightning's first sentence; its list of accelerators follows
    return ResourceError(f"trainer.accelerator {accelerator!r} with devices {devices!r} asks for what this machine does "
                         f"not have ({first}); use accelerator: cpu (or auto, which takes what there is) or fewer "
                         "devices.")


def actmax_cause(error: BaseException) -> ActMaxError | None:
    """The first :class:`~lit_actmax.errors.ActMaxError` in ``error``'s chain of causes (``error`` itself included)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ActMaxError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
