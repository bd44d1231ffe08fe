"""The ``lit-actmax`` command: LightningCLI for ``fit``, plus ``layers``.

    lit-actmax fit --config configs/quickstart.yaml
    lit-actmax fit --config configs/trainer/cpu.yaml --config configs/model/lite0_classes.yaml --model.units 0-99
    lit-actmax layers lite0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback

from .examples import examples_command
from .gallery import gallery_command
from .models import BackboneError, load_backbone
from .module import ActMaxModule, ConfigError
from .probe import ProbeError, list_layers
from .sharding import ShardError
from .units import UnitSpecError

__all__ = ["ActMaxCLI", "SaveConfigToRun", "main", "layers_command"]

TRAINER_DEFAULTS = {
    "num_sanity_val_steps": 0,
    "use_distributed_sampler": False,
    "log_every_n_steps": 1,
}


class SaveConfigToRun(SaveConfigCallback):
    """Save the resolved config as ``config.yaml`` into the run directory (global rank 0), once."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        pass

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        run_dir = getattr(pl_module, "run_dir", None)
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


def layers_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lit-actmax layers", description="List the hookable layers of a backbone.")
    parser.add_argument("spec", help="backbone spec, e.g. lite0, torchvision:alexnet, my_pkg.models:build")
    parser.add_argument("--size", type=int, default=None, help="input side in pixels (default: the model's)")
    parser.add_argument("--weights", default="DEFAULT", help="torchvision weights name, or none")
    parser.add_argument("--checkpoint-class", default=None, help="LightningModule class of a .ckpt spec")
    args = parser.parse_args(list(argv))
    weights = None if str(args.weights).lower() == "none" else args.weights
    backbone = load_backbone(args.spec, weights=weights, checkpoint_class=args.checkpoint_class)
    size = args.size or backbone.input_size
    x = backbone.preprocess(torch.full((1, 3, size, size), 0.5))
    infos = list_layers(backbone.model, x)
    width = max(len(i.name) for i in infos)
    type_width = max(len(i.type) for i in infos)
    print(f"# {args.spec}: {len(infos)} layers at {size}x{size} (name, type, output shape per image, calls)")
    for info in infos:
        shared = f"  used {info.calls}x: hook one call as {info.name}#0" if info.calls > 1 else ""
        print(f"{info.name:<{width}}  {info.type:<{type_width}}  {str(list(info.shape)):<18}{shared}")
    return 0


USER_ERRORS = (BackboneError, ConfigError, ProbeError, ShardError, UnitSpecError)


#: Warnings that are expected in every run (the backbone is frozen in eval mode on purpose, the step
#: "dataset" is a counter) and would only hide the messages that matter.
EXPECTED_WARNINGS = (
    r".*module\(s\) in eval mode.*",
    r".*IterableDataset. has .__len__. defined.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*does not have many workers.*",
    r".*`max_epochs` was not set.*",  # ActMaxModule sets it: groups of units x epochs per group
    # batches are step counters: training_step reads the step from batch_idx, which Lightning restores
    r".*resuming from a checkpoint that ended before the epoch ended.*",
)


def quiet_expected_warnings() -> None:
    import warnings

    for pattern in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_expected_warnings()
    explicit = argv is not None
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"layers": layers_command, "gallery": gallery_command, "examples": examples_command}
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        ActMaxCLI(args=argv if explicit else None)
    except USER_ERRORS as error:
        print(f"lit-actmax: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
