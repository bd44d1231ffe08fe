"""``lit-actmax atlas``: a model tour in one command: units of many layers, dataset examples, and the site.

    lit-actmax atlas --config configs/atlas/lite0.yaml [--images FOLDER] [--k 9] [fit options ...]

The config is a ``fit`` config whose ``model.units`` selects units per layer (:mod:`lit_actmax.core.layer_selection`). The
command renders them into one folder that it continues (``model.run_dir``; default
``<out_dir>/<run_name or backbone>/atlas``): running it again, with more layers or units or after it was killed,
renders only what is missing (:class:`~lit_actmax.lightning.module.ActMaxModule`'s ``run_dir``). Then, on global rank 0, the
dataset examples of each layer that lacks them (``--images``: the exact streaming top-k of
:mod:`lit_actmax.lightning.dataset_examples`, one pass over the folder per layer) and the static site (:mod:`lit_actmax.html.site`:
``<run_dir>/site/index.html``). Every option other than the atlas's own goes to ``fit``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from ..run.files import layer_folder, read_json
from ..run.folders import run_name_of

__all__ = ["atlas_command", "add_examples", "default_atlas_dir"]


def default_atlas_dir(out_dir: str, run_name: str | None, backbone: str) -> Path:
    """``<out_dir>/<run_name or the backbone's name>/atlas``: the folder an atlas continues."""
    return Path(out_dir) / run_name_of(backbone, run_name) / "atlas"


def _examples_are_current(path: Path, folder: Path, k: int, units: Sequence[int]) -> bool:
    """Whether ``examples.json`` at ``path`` was made from ``folder`` with ``k`` images for every unit of ``units``."""
    if not path.is_file():
        return False
    saved = read_json(path)
    return (saved.get("folder") == str(folder.resolve()) and saved.get("k") == k
            and all(str(u) in saved.get("units", {}) for u in units))


def add_examples(run_dir: str | Path, folder: str | Path, k: int = 9, least: bool = False,
                 batch_size: int = 16) -> list[str]:
    """Dataset examples for every layer of the run folder's index that lacks current ones; returns those layers.

    One pass over ``folder`` per layer, each stopping at its layer; the top-k is exact (:mod:`lit_actmax.lightning.dataset_examples`).
    """
    from ..core.dataset_scores import objective_from_text
    from ..lightning.dataset_examples import find_examples, save_examples

    run_dir, folder = Path(run_dir), Path(folder)
    index = read_json(run_dir / "index.json")
    by_layer: dict[str, tuple[str, list[int]]] = {}
    for record in index["units"]:
        objective, units = by_layer.setdefault(record["layer"], (record["objective"], []))
        if record["unit"] not in units:
            units.append(record["unit"])
    done = []
    for layer, (objective, units) in by_layer.items():
        if _examples_are_current(run_dir / "examples" / layer_folder(layer) / "examples.json", folder, k, units):
            continue
        config = index.get("config", {})
        module, files = find_examples(index["backbone"], objective_from_text(objective), sorted(units), folder, k=k,
                                      least=least, batch_size=batch_size, weights=config.get("weights", "DEFAULT"),
                                      checkpoint_class=config.get("checkpoint_class"))
        save_examples(run_dir, module, files, folder)
        done.append(layer)
    return done


def atlas_command(argv: Sequence[str]) -> int:
    """Parse the atlas's own options, render with ``fit`` options, then add examples and write the site."""
    parser = argparse.ArgumentParser(
        prog="lit-actmax atlas", add_help=False,
        description="Render units of many layers into one continued folder, add dataset examples, write the site.")
    parser.add_argument("--images", default=None, help="folder of images for dataset examples (searched recursively)")
    parser.add_argument("--k", type=int, default=9, help="dataset examples per unit (default 9)")
    parser.add_argument("--least", action="store_true", help="also keep the k least activating images")
    parser.add_argument("--no-site", action="store_true", help="do not write the site")
    parser.add_argument("-h", "--help", action="store_true")
    args, rest = parser.parse_known_args(list(argv))
    if args.help:
        parser.print_help()
        print("\nEvery other option is a fit option (lit-actmax fit --help); the config's model.units selects units "
              "per layer, e.g. {'_blocks.3': 'all', 'output': '0-999:10'}.")
        return 0
    if any(a == "--ckpt_path" or a.startswith("--ckpt_path=") for a in rest):
        raise ConfigError("An atlas continues by running the same command again (finished units are kept); drop "
                          "--ckpt_path.")
    if args.images is not None and not Path(args.images).is_dir():
        raise ConfigError(f"Image folder {args.images!r} does not exist; give a folder of PNG/JPEG images.")

    from .lightning_cli import ActMaxCLI

    cli = ActMaxCLI(args=rest, run=False)
    module, trainer = cli.model, cli.trainer
    if module.continued_dir is None:
        module.continued_dir = default_atlas_dir(module.out_dir, module.run_name, module.spec).absolute()
    trainer.fit(module)
    if not trainer.is_global_zero or module.run_dir is None:
        return 0
    run_dir = module.run_dir
    if args.images is not None:
        added = add_examples(run_dir, args.images, k=args.k, least=args.least)
        print(f"Dataset examples: {len(added)} layer(s) added" + (f" ({', '.join(added)})" if added else "") + ".")
    if not args.no_site:
        from ..html.site import build_site

        page = build_site(run_dir)
        print(f"Atlas site: {page} (open it in a browser; no server needed)")
    return 0
