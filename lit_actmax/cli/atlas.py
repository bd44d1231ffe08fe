"""``lit-actmax atlas``: a model tour in one command: units of many layers, dataset examples, and the site.

    lit-actmax atlas --config configs/atlas/lite0.yaml [--images FOLDER] [--k 9] [--no-score] [fit options ...]

The config is a ``fit`` config whose ``model.units`` selects units per layer (:mod:`lit_actmax.core.layer_selection`). The
command renders them into one folder that it continues (``model.run_dir``; default
``<out_dir>/<run_name or backbone>/atlas``): running it again, with more layers or units or after it was killed,
renders only what is missing (:class:`~lit_actmax.lightning.module.ActMaxModule`'s ``run_dir``). Then, on global rank 0, the
dataset examples of each layer that lacks them (``--images``: the exact streaming top-k of
:mod:`lit_actmax.lightning.dataset_examples`, one pass over the folder per layer), each unit's explanation score (how
well its picture tells strongly from weakly activating examples, against its examples' own score:
:mod:`lit_actmax.run.explanation_scores`; the examples then keep bottom lists, the weak queries) and the static site
(:mod:`lit_actmax.html.site`: ``<run_dir>/site/index.html``). Every option other than the atlas's own goes to ``fit``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..core.explanation_score import DEFAULT_EMBEDDING_BACKBONE, DEFAULT_EMBEDDING_LAYERS, load_embedding
from ..errors import ConfigError
from ..run.explanation_scores import add_explanation_scores
from ..run.files import layer_folder, read_json
from ..run.folders import run_name_of
from ..run.storage import AnyPath, Location, location

__all__ = ["atlas_command", "add_examples", "default_atlas_dir"]


def default_atlas_dir(out_dir: AnyPath, run_name: str | None, backbone: str) -> Location:
    """``<out_dir>/<run_name or the backbone's name>/atlas``: the folder an atlas continues (``out_dir`` may be an
    fsspec URL)."""
    return location(out_dir, "out_dir") / run_name_of(backbone, run_name) / "atlas"


def _examples_are_current(path: Location, folder: Path, k: int, units: Sequence[int], least: bool) -> bool:
    """Whether ``examples.json`` at ``path`` was made from ``folder`` with ``k`` images for every unit of ``units``
    (and bottom lists, with ``least``)."""
    if not path.is_file():
        return False
    saved = read_json(path)
    per_unit = saved.get("units", {})
    return (saved.get("folder") == str(folder.resolve()) and saved.get("k") == k
            and all(str(u) in per_unit and (not least or "bottom" in per_unit[str(u)]) for u in units))


def add_examples(run_dir: AnyPath, folder: str | Path, k: int = 9, least: bool = False,
                 batch_size: int = 16) -> list[str]:
    """Dataset examples for every layer of the run folder's index that lacks current ones; returns those layers.

    One pass over ``folder`` per layer, each stopping at its layer; the top-k is exact (:mod:`lit_actmax.lightning.dataset_examples`).
    """
    from ..core.dataset_scores import objective_from_text
    from ..lightning.dataset_examples import find_examples, save_examples

    run_dir, folder = location(run_dir, "run_dir"), Path(folder)
    index = read_json(run_dir / "index.json")
    by_layer: dict[str, tuple[str, list[int]]] = {}
    for record in index["units"]:
        objective, units = by_layer.setdefault(record["layer"], (record["objective"], []))
        if record["unit"] not in units:
            units.append(record["unit"])
    done = []
    for layer, (objective, units) in by_layer.items():
        examples = run_dir / "examples" / layer_folder(layer) / "examples.json"
        if _examples_are_current(examples, folder, k, units, least):
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
        description="Render units of many layers into one continued folder, add dataset examples and each unit's "
                    "explanation score, write the site.")
    parser.add_argument("--images", default=None, help="folder of images for dataset examples (searched recursively)")
    parser.add_argument("--k", type=int, default=9, help="dataset examples per unit (default 9)")
    parser.add_argument("--least", action="store_true", help="also keep the k least activating images (kept anyway "
                        "when explanation scores are computed: their weak queries)")
    parser.add_argument("--no-score", action="store_true",
                        help="with --images, do not compute the units' explanation scores")
    parser.add_argument("--embedding", default=DEFAULT_EMBEDDING_BACKBONE,
                        help=f"backbone spec of the explanation score's perceptual embedding (default "
                        f"{DEFAULT_EMBEDDING_BACKBONE}, a trained model available offline)")
    parser.add_argument("--embedding-layers", nargs="+", default=None, metavar="LAYER",
                        help=f"its layers, each mean-pooled (default for {DEFAULT_EMBEDDING_BACKBONE}: "
                        f"{' '.join(DEFAULT_EMBEDDING_LAYERS)})")
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
    scoring = args.images is not None and not args.no_score
    if scoring and args.k < 2:
        raise ConfigError(f"The explanation score needs at least 2 dataset examples per unit; give --k 2 or more "
                          f"(got {args.k}), or --no-score.")
    embedding = load_embedding(args.embedding, args.embedding_layers) if scoring else None  # a bad one fails here

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
        added = add_examples(run_dir, args.images, k=args.k, least=args.least or scoring)
        print(f"Dataset examples: {len(added)} layer(s) added" + (f" ({', '.join(added)})" if added else "") + ".")
    if embedding is not None:
        scores = add_explanation_scores(run_dir, embedding)
        print("Explanation scores (share of strong/weak example pairs the picture tells apart; 0.5 = chance; the "
              "held-out examples' own score in brackets): "
              + ", ".join(f"{s.layer} {s.picture:.2f} ({s.examples:.2f})" for s in scores) + ".")
    if not args.no_site:
        from ..html.site import build_site

        page = build_site(run_dir)
        print(f"Atlas site: {page} (open it in a browser; no server needed)")
    return 0
