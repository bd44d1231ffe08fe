"""``lit-actmax fit --help``: the options most runs set, first and short; ``--help-all`` is LightningCLI's full list.

Plain text, printed without loading torch or Lightning. ``tests/cli/test_fit_help.py`` checks that every option named
here is an argument of ``ActMaxModule`` or ``Trainer``, so the short list cannot drift from the real one.
"""

from __future__ import annotations

import textwrap

__all__ = ["COMMON_OPTIONS", "ENV_PREFIX", "fit_help"]

#: The prefix of fit's environment variables (LightningCLI's ``default_env``): ``LIT_ACTMAX_FIT__MODEL__UNITS=0-15``.
ENV_PREFIX = "LIT_ACTMAX"

#: (option, what it does), in the order a first run reads them.
COMMON_OPTIONS = (
    ("--config NAME|FILE", "a config: a shipped one by name (quickstart, presets/vit, trainer/cpu; `lit-actmax configs` "
                           "lists them) or a YAML file; repeat to compose, later wins"),
    ("--model.backbone SPEC", "lite0 (offline), torchvision:<name>, timm:<name>, open_clip:<arch>, transformers:<name>, "
                              "<module>:<callable> or a .ckpt"),
    ("--model.units UNITS", "0-15, \"[130, 340]\", 0-999:10, or per layer {\"_blocks.3\": all, output: 0-9}"),
    ("--model.objective CLASS", "what to maximize, e.g. lit_actmax.objectives.Channel with --model.objective.init_args.layer"),
    ("--model.size N", "image side in pixels"),
    ("--model.batch_size N", "images optimized together (memory is bounded by this)"),
    ("--model.steps_per_epoch N", "optimizer steps per epoch (between-epoch callbacks run after each)"),
    ("--model.epochs N", "epochs per group of units: steps per unit = steps_per_epoch x epochs"),
    ("--model.seed N", "a unit's image depends only on (config, seed, unit)"),
    ("--model.out_dir DIR", "parent of the run folders (default actmax_runs)"),
    ("--model.run_dir DIR", "write into this folder and continue it (only missing units are rendered)"),
    ("--trainer.accelerator auto|cpu|gpu", "where to run"),
    ("--trainer.devices N", "devices per node; with several, add --trainer.strategy unit_parallel"),
    ("--trainer.strategy unit_parallel", "one process per device, each rendering its share of the units"),
    ("--trainer.precision 32|bf16-mixed|16-mixed", "bf16 on a CPU without native bf16 is slow: lit_actmax warns"),
    ("--trainer.max_time DD:HH:MM:SS", "stop after this long (a continued run_dir picks up the rest)"),
    ("--trainer.callbacks+=CLASS", "add a callback, e.g. lit_actmax.callbacks.WriteGallery"),
    ("--trainer.logger CLASS", "a logger (TensorBoardLogger, CSVLogger, MLFlowLogger, WandbLogger); none by default"),
    ("--ckpt_path FILE", "resume a run from <run folder>/checkpoints/last.ckpt"),
    ("--print_config", "print the resolved config and exit"),
)


def fit_help() -> str:
    """The short help of ``lit-actmax fit``."""
    width = max(len(option) for option, _ in COMMON_OPTIONS)
    rows = "\n".join(f"  {option:<{width}}  " + "\n".ljust(width + 5).join(textwrap.wrap(text, 112 - width))
                     for option, text in COMMON_OPTIONS)
    return (
        "usage: lit-actmax fit [--config NAME|FILE ...] [--model.* ...] [--trainer.* ...] [--ckpt_path FILE]\n\n"
        "Render what units of a model respond to (LightningCLI over lit_actmax.ActMaxModule).\n\n"
        f"common options:\n{rows}\n\n"
        "Every ActMaxModule argument is a --model.* option and every Trainer argument a --trainer.* option;\n"
        "`lit-actmax fit --help-all` lists all of them (slow: it imports Lightning and every class).\n"
        f"Each option can also come from the environment: {ENV_PREFIX}_FIT__MODEL__UNITS=0-15,\n"
        f"{ENV_PREFIX}_FIT__TRAINER__ACCELERATOR=gpu, {ENV_PREFIX}_FIT__CONFIG=quickstart (the command line wins).\n"
        "Example: lit-actmax fit --config quickstart --model.units 0-99 --trainer.accelerator gpu\n"
    )
