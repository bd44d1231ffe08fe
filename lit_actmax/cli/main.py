"""The ``lit-actmax`` command: ``fit`` (LightningCLI), ``layers``, ``gallery`` and ``examples``.

    lit-actmax fit --config quickstart
    lit-actmax fit --config trainer/cpu --config model/lite0 --model.units 0-99
    lit-actmax layers lite0

Each subcommand imports only what it needs: ``layers`` and ``--help`` start without Lightning.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from ..errors import ActMaxError
from ..exits import EXIT_ERROR, explanation
from ..lightning.quiet import quiet_lightning
from ..wait_policy import choose_wait_policy

__all__ = ["main", "layers_command"]

USAGE = """usage: lit-actmax {fit,atlas,evolve,layers,gallery,site,examples,configs,completion} ...

Feature visualization by activation maximization, on PyTorch Lightning.

subcommands:
  fit       render units: lit-actmax fit --config quickstart (LightningCLI; `fit --help`: the common options);
            shows units rendered with an ETA, and ends by naming the run folder (images/, grids/, index.json)
  atlas     tour a model: units of many layers into one continued folder, dataset examples, site:
            lit-actmax atlas --config atlas/lite0 [--images DIR] (rerun: renders only what is missing)
  evolve    watch a training afterwards: a FeatureVisualization config's units for each checkpoint of a run:
            lit-actmax evolve 'ckpts/*.ckpt' --config train.yaml (frames, strips, site; rerun: only new checkpoints)
  layers    list the hookable layers of a backbone: lit-actmax layers lite0 [--size N]
  gallery   write the HTML gallery of run folders: lit-actmax gallery RUN_DIR [RUN_DIR ...]
  site      write a run's browsable atlas site (model, layer and unit pages): lit-actmax site RUN_DIR [--out site]
  examples  find dataset examples for a run's units: lit-actmax examples RUN_DIR --images DIR
  configs   list the configs that ship with lit_actmax (--config NAME takes them by name)
  completion  print a shell completion script: eval "$(lit-actmax completion bash)" (bash or zsh)

options:
  -h, --help  show this message
  --version   show the version
"""


def layers_command(argv: Sequence[str]) -> int:
    import torch

    from ..backbones.probe import list_layers
    from ..backbones.specs import load_backbone

    parser = argparse.ArgumentParser(prog="lit-actmax layers", description="List the hookable layers of a backbone.")
    parser.add_argument("spec", help="backbone spec, e.g. lite0, torchvision:alexnet, my_pkg.models:build")
    parser.add_argument("--size", type=int, default=None, help="input side in pixels (default: the model's)")
    parser.add_argument("--weights", default="DEFAULT", help="torchvision weights name, or none")
    parser.add_argument("--checkpoint-class", default=None, help="LightningModule class of a .ckpt spec")
    args = parser.parse_args(list(argv))
    weights = None if str(args.weights).lower() == "none" else args.weights
    backbone = load_backbone(args.spec, weights=weights, checkpoint_class=args.checkpoint_class)
    size = args.size or backbone.input_size
    x = backbone.model_input(torch.full((1, 3, size, size), 0.5))  # one-size models (ViT): resized to theirs
    infos = list_layers(backbone.model, x)
    width = max(len(i.name) for i in infos)
    type_width = max(len(i.type) for i in infos)
    print(f"# {args.spec}: {len(infos)} layers at {size}x{size} (name, type, output shape per image, layout, "
          "channels, grid: HxW map or special+HxW tokens; '?': state the layout with the objective's layout=; calls)")
    for info in infos:
        shared = f"  used {info.calls}x: hook one call as {info.name}#0" if info.calls > 1 else ""
        layout = info.layout
        if layout is None:
            where = f"{'?':<5} {'?':>6}  {'?':<9}"
        else:
            special = f"{layout.special}+" if layout.is_tokens else ""
            grid = "" if layout.kind == "BC" else f"{special}{layout.grid[0]}x{layout.grid[1]}"
            where = f"{layout.kind:<5} {layout.channels:>6}  {grid:<9}"
        print(f"{info.name:<{width}}  {info.type:<{type_width}}  {str(list(info.shape)):<18}  {where}{shared}")
    return 0


def gallery_command(argv: Sequence[str]) -> int:
    from ..html.gallery import gallery_command as run

    return run(argv)


def site_command(argv: Sequence[str]) -> int:
    from ..html.site import site_command as run

    return run(argv)


def atlas_command(argv: Sequence[str]) -> int:
    from .atlas import atlas_command as run
    from .fit_arguments import prepare_fit_args

    return run(prepare_fit_args(argv))


def completion_command(argv: Sequence[str], commands: dict[str, Callable[[Sequence[str]], int]]) -> int:
    from .completion import completion_command as run

    return run(argv, ["fit", *commands], commands)


def configs_command(argv: Sequence[str]) -> int:
    from .named_configs import configs_command as run

    return run(argv)


def evolve_command(argv: Sequence[str]) -> int:
    from .evolve import evolve_command as run

    return run(argv)


def examples_command(argv: Sequence[str]) -> int:
    from .examples import examples_command as run

    return run(argv)


def fit_command(argv: Sequence[str] | None) -> int:
    """LightningCLI (``fit`` and its options); ``argv`` None reads ``sys.argv``. ``--help`` is the short help of the
    common options (:mod:`lit_actmax.cli.fit_help`), ``--help-all`` LightningCLI's; shipped configs go by name and the
    Lightning package the arguments name is the one loaded (:mod:`lit_actmax.cli.fit_arguments`)."""
    from .fit_arguments import prepare_fit_args
    from .fit_help import fit_help

    given = list(sys.argv[1:] if argv is None else argv)
    if "-h" in given or "--help" in given:
        print(fit_help(), end="")
        return 0
    given = ["--help" if a == "--help-all" else a for a in given]
    args = prepare_fit_args(given)
    from .lightning_cli import ActMaxCLI

    if argv is None:  # the process's own command line, resolved (Lightning's launcher reruns it for other ranks)
        sys.argv[1:] = args
    ActMaxCLI(args=args if argv is not None else None)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    choose_wait_policy(warn=False)  # before torch starts OpenMP; ranks inherit it (in-process calls: too late, quiet)
    quiet_lightning()  # the expected warnings and Lightning's tips: lit_actmax.lightning.quiet, the one place that lists them
    explicit = argv is not None
    args = list(sys.argv[1:] if argv is None else argv)
    commands: dict[str, Callable[[Sequence[str]], int]] = {
        "layers": layers_command, "gallery": gallery_command, "site": site_command, "examples": examples_command,
        "atlas": atlas_command, "configs": configs_command, "evolve": evolve_command,
    }
    commands["completion"] = lambda rest: completion_command(rest, commands)
    from .fit_arguments import environment_kept

    with environment_kept():
        return run_command(args, explicit, commands)


def run_command(args: list[str], explicit: bool, commands: dict[str, Callable[[Sequence[str]], int]]) -> int:
    """The subcommand ``args`` name, its errors as one line on stderr and an exit code."""
    try:
        if not args or args[0] in ("-h", "--help"):
            print(USAGE, end="")
            return 0 if args else 2
        if args[0] == "--version":
            from .. import __version__

            print(f"lit-actmax {__version__}")
            return 0
        if args[0] in commands:
            return commands[args[0]](args[1:])
        if args[0] != "fit" and not args[0].startswith("-"):  # e.g. LightningCLI's validate/test/predict
            *others, last = ["fit", *commands]
            print(f"lit-actmax: error: '{args[0]}' is not a subcommand; use {', '.join(others)} or {last} "
                  "(lit-actmax --help).", file=sys.stderr)
            return 2
        return fit_command(args if explicit else None)
    except ActMaxError as error:  # one write per line: the processes of a run share the terminal
        sys.stderr.write(f"lit-actmax: error: {error}\n")
        return int(getattr(error, "exit_code", EXIT_ERROR))  # another rank's failure: that rank's exit code
    except Exception as error:  # running out of a resource, or a collective broken by another rank's failure
        explained = explanation(error)  # (lit_actmax.exits.explain); anything else is a bug and keeps its traceback
        if explained is None:
            raise
        sys.stderr.write(f"lit-actmax: error: {explained[0]}\n")
        return explained[1]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
