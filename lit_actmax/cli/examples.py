"""``lit-actmax examples``: dataset examples of a run's units, saved into the run for its gallery and site.

    lit-actmax examples RUN_DIR --images FOLDER [--k 9] [--least] [--devices 2]

Backbone, objective and units come from ``RUN_DIR/index.json`` unless given. The search is
:func:`lit_actmax.lightning.dataset_examples.find_examples` (an exact streaming top-k over ``Trainer.predict``);
Lightning is loaded only once the arguments are checked, so ``--help`` and bad arguments answer at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..core.dataset_scores import objective_from_text
from ..core.units import parse_units
from ..errors import ConfigError
from ..image.io import list_images
from ..run.files import read_json
from ..run.storage import location

__all__ = ["examples_command", "examples_parser", "run_examples"]


def examples_parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(prog="lit-actmax examples", description=(
        "Find the images of a folder that most (and least) activate each unit of a run, and save them into the "
        "run for the gallery. Backbone, objective and units come from RUN_DIR/index.json unless given."))
    parser.add_argument("run_dir", help="a run directory (with index.json)")
    parser.add_argument("--images", required=True, help="folder of images (searched recursively)")
    parser.add_argument("--k", type=int, default=9, help="images per unit (default 9)")
    parser.add_argument("--least", action="store_true", help="also keep the k least activating images")
    parser.add_argument("--backbone", default=None, help="backbone spec (default: the run's)")
    parser.add_argument("--objective", default=None, help="e.g. 'Channel(features.8)' (default: the run's)")
    parser.add_argument("--units", default=None, help="unit ids, e.g. 0-15 (default: the run's)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    parser.add_argument("--devices", default="1", help="processes/devices for Trainer.predict (default 1)")
    parser.add_argument("--accelerator", default="cpu", help="cpu (default), gpu, auto")
    parser.add_argument("--thumb", type=int, default=96, help="thumbnail side in pixels")
    parser.add_argument("--no-gallery", action="store_true", help="do not rebuild the run's gallery")
    return parser


def examples_command(argv: Sequence[str]) -> int:
    """``lit-actmax examples RUN_DIR --images FOLDER``: parse, run, and print an error as one line (exit 2)."""
    args = examples_parser().parse_args(list(argv))
    try:
        return run_examples(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"lit-actmax examples: error: {error}", file=sys.stderr)
        return 2


def run_examples(args: argparse.Namespace) -> int:
    """Find and save the dataset examples :func:`examples_parser`'s ``args`` ask for; global rank 0 saves them."""
    run_dir = location(args.run_dir, "RUN_DIR")
    index_path = run_dir / "index.json"
    if not index_path.is_file():
        raise ConfigError(f"{str(index_path)!r} does not exist; give a finished run directory.")
    list_images(args.images)  # fail early, before any model is loaded
    index = read_json(index_path)
    config = index.get("config", {})
    if not (args.objective or index.get("objective")) or not (args.backbone or index.get("backbone")):
        raise ConfigError(f"{str(index_path)!r} names no objective or backbone; pass --objective and --backbone.")
    objective = objective_from_text(args.objective or index["objective"])
    units = parse_units(args.units) if args.units else sorted({int(r["unit"]) for r in index.get("units", [])})
    devices = int(args.devices) if str(args.devices).isdigit() else args.devices

    from ..lightning.dataset_examples import find_examples, save_examples
    from ..lightning.package import pl
    from ..lightning.strategy import STRATEGY_NAME

    trainer = pl.Trainer(accelerator=args.accelerator, devices=devices, logger=False, enable_model_summary=False,
                         use_distributed_sampler=False,
                         strategy=STRATEGY_NAME if devices not in (1, "1") else "auto")
    module, files = find_examples(
        args.backbone or index["backbone"], objective, units, args.images, k=args.k, least=args.least,
        trainer=trainer, batch_size=args.batch_size, num_workers=args.workers, weights=config.get("weights", "DEFAULT"),
        checkpoint_class=config.get("checkpoint_class"),
    )
    if trainer.is_global_zero:
        path = save_examples(run_dir, module, files, args.images, thumb=args.thumb)
        print(f"lit-actmax: dataset examples of {len(units)} units from {len(files)} images: {path}")
        if not args.no_gallery:
            from ..html.gallery import build_gallery

            print(f"lit-actmax: gallery: {build_gallery(run_dir)}")
    return 0
