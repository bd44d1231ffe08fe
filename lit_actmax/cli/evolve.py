"""``lit-actmax evolve``: the renders of :class:`~lit_actmax.callbacks.FeatureVisualization`, after the fact, from a
training run's checkpoints.

    lit-actmax evolve ckpts/*.ckpt --config train.yaml [--checkpoint-class pkg.module.Class] [--out DIR]

``--config`` holds the callback's settings: a training config whose ``trainer.callbacks`` lists a
``FeatureVisualization`` (and whose ``model.class_path`` names the checkpoints' class), the callback's own
``{class_path, init_args}``, or just its arguments. Each checkpoint's module is loaded by its class
(``load_from_checkpoint``, on the CPU) and its units rendered as the callback renders them, in training order (the
checkpoints' ``global_step``), into the folder a watched run writes (default ``<checkpoints' folder>/../
feature_visualization``, beside the logs): frames, strips, animations, records, index and the site with its "over
training" view. The folder continues like an atlas: running the command again renders only the steps it lacks, and
a folder made with other settings is refused with one sentence. A run watched by the callback can be filled in the
same way (its renders are kept).
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from ..run.files import read_json
from ..run.storage import AnyPath, Location, location

__all__ = ["checkpoint_position", "evolve", "evolve_command", "visualization_from_config"]

CALLBACK = "FeatureVisualization"


def _callback_entry(data: Any, path: str) -> tuple[dict[str, Any], str | None]:
    """The callback's init arguments in a config, and the class of the config's model (None: not named)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds no mapping; give the FeatureVisualization settings or a training config.")
    model = data.get("model")
    model_class = model.get("class_path") if isinstance(model, dict) else None
    if "trainer" in data:
        callbacks = (data.get("trainer") or {}).get("callbacks") or []
        entries = [c for c in callbacks if isinstance(c, dict) and str(c.get("class_path", "")).endswith(CALLBACK)]
        if len(entries) != 1:
            raise ConfigError(f"{path} lists {len(entries)} {CALLBACK} callbacks under trainer.callbacks; evolve needs "
                              "exactly one.")
        return dict(entries[0].get("init_args") or {}), model_class
    if "class_path" in data:
        if not str(data["class_path"]).endswith(CALLBACK):
            raise ConfigError(f"{path} configures {data['class_path']}, not lit_actmax.callbacks.{CALLBACK}.")
        return dict(data.get("init_args") or {}), model_class
    return dict(data.get("init_args", data)), model_class


def visualization_from_config(path: str) -> tuple[Any, str | None]:
    """The :class:`~lit_actmax.callbacks.FeatureVisualization` a config describes (see the module docstring) and
    the class its ``model.class_path`` names (None: none). :class:`ConfigError` naming the mistake."""
    import yaml
    from jsonargparse import ArgumentParser

    from ..callbacks.feature_visualization import FeatureVisualization

    if not Path(path).is_file():
        raise ConfigError(f"Config file {path!r} does not exist; give the YAML that configures FeatureVisualization.")
    entry, model_class = _callback_entry(yaml.safe_load(Path(path).read_text(encoding="utf-8")), path)
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(FeatureVisualization, "visualization")
    try:
        config = parser.parse_object({"visualization": entry})
        return parser.instantiate_classes(config).visualization, model_class
    except ConfigError:
        raise
    except Exception as error:  # jsonargparse reports a bad key or type in its own words
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ConfigError(f"{path}: the FeatureVisualization settings do not parse ({first}); fix that key.") from None


def checkpoint_position(path: str | Path) -> tuple[int, int]:
    """``(global_step, epoch)`` a Lightning checkpoint was saved at."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # a foreign or damaged file: what it raises varies
        raise ConfigError(f"{str(path)!r} is not a checkpoint torch can read ({type(error).__name__}); check the "
                          "file.") from None
    if not isinstance(checkpoint, dict) or "global_step" not in checkpoint:
        raise ConfigError(f"{str(path)!r} is not a Lightning checkpoint (it has no global_step); give the .ckpt files "
                          "a Trainer saved.")
    return int(checkpoint["global_step"]), int(checkpoint.get("epoch", 0))


def evolve(checkpoints: Sequence[str | Path], checkpoint_class: str, visualization: Any,
           out: AnyPath | None = None) -> Location:
    """Render ``visualization``'s units (a :class:`~lit_actmax.callbacks.FeatureVisualization`) for each of
    ``checkpoints`` missing in ``out`` (local or an fsspec URL), in training order; returns the folder (its site is
    ``site/index.html``)."""
    from ..backbones.lightning_checkpoint import load_lightning_checkpoint
    from ..html.site import build_site
    from ..run.evolution import EvolutionWriter

    if not checkpoints:
        raise ConfigError("No checkpoints given; pass the run's .ckpt files, e.g. lightning_logs/version_0/checkpoints/*.ckpt.")
    paths = [Path(p) for p in checkpoints]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"Checkpoint file {missing[0]!r} does not exist; give the .ckpt files of a training run.")
    folder = location(out, "--out") if out is not None else paths[0].resolve().parent.parent / "feature_visualization"
    order = sorted(((*checkpoint_position(p), p) for p in paths), key=lambda item: (item[0], item[1]))
    live, writer, seen = visualization.live, None, set()
    for step, epoch, path in order:
        if step in seen or (writer is not None and step in writer.steps):
            print(f"lit-actmax evolve: step {step} is rendered already; {path.name} skipped.")
            continue
        seen.add(step)
        module = load_lightning_checkpoint(str(path), checkpoint_class).model
        live.bind(module, visualization.model_name(module))
        if writer is None:
            writer = EvolutionWriter(folder, live)
            if step in writer.steps:
                print(f"lit-actmax evolve: step {step} is rendered already; {path.name} skipped.")
                continue
        rendering = live.render()
        writer.add(rendering, step, epoch, "checkpoint", source=path.name)
        print(f"lit-actmax evolve: step {step} (epoch {epoch}) from {path.name}: {len(rendering.keys)} images in "
              f"{rendering.seconds:.1f} s")
    if writer is None:
        raise ConfigError("Nothing to render.")
    if visualization.site:
        build_site(folder)
    return folder


def evolve_command(argv: Sequence[str]) -> int:
    """Parse ``lit-actmax evolve`` and render; prints the folder and its site."""
    parser = argparse.ArgumentParser(prog="lit-actmax evolve", description=(
        "Render the units of a FeatureVisualization config for each checkpoint of a training run, in training order, "
        "into one folder (frames, strips, animations, site with an 'over training' view); a rerun renders only the "
        "checkpoints it lacks."))
    parser.add_argument("checkpoints", nargs="+", help="the run's .ckpt files (a quoted glob such as 'ckpts/*.ckpt' works)")
    parser.add_argument("--config", required=True, help="YAML: a training config listing FeatureVisualization under "
                        "trainer.callbacks, or the callback's {class_path, init_args}, or its arguments")
    parser.add_argument("--checkpoint-class", default=None, help="the checkpoints' LightningModule class, "
                        "package.module.Class (default: the config's model.class_path)")
    parser.add_argument("--out", default=None, help="the folder, local or an fsspec URL such as s3://bucket/watch "
                        "(default: <checkpoints' folder>/../feature_visualization)")
    args = parser.parse_args(list(argv))
    files = [f for pattern in args.checkpoints for f in (sorted(glob.glob(pattern)) or [pattern])]
    visualization, model_class = visualization_from_config(args.config)
    checkpoint_class = args.checkpoint_class or model_class
    if not checkpoint_class:
        raise ConfigError("Name the checkpoints' LightningModule class with --checkpoint-class package.module.Class "
                          "(the config has no model.class_path).")
    folder = evolve(files, checkpoint_class, visualization, args.out)
    renders = len(read_json(folder / "evolution.json")["renders"])
    site = folder / "site" / "index.html"
    print(f"lit-actmax: evolve: {renders} renders in {folder}" + (f" (site: {site})" if site.is_file() else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(evolve_command(sys.argv[1:]))
