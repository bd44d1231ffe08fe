"""Dataset examples: the images of a folder that most (and least) activate each unit.

A folder of images is streamed through the frozen backbone (``Trainer.predict``: any number of processes, each
reading its own shard of the files); per unit a :class:`TopKExamples` keeps the ``k`` best (image id, score)
pairs seen so far. The top-k is exact: ties are broken by the smaller image id, and merging the ranks' top-k
lists gives the same answer as sorting all scores at once. A unit's score is the run's objective on the image
(``Channel``: mean over positions, ``ClassLogit``: the logit, ``Neuron``: the centre position, ...).

The result is saved into a run directory for the gallery::

    <run_dir>/examples/<layer>/examples.json     per unit: top (and bottom) lists of {image, source, activation}
    <run_dir>/examples/<layer>/thumbs/<id>.jpg   the model's view (centre crop) of every listed image

    lit-actmax examples RUN_DIR --images FOLDER --k 9 --least
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchmetrics import Metric

from ..backbones.probe import LayerProbe
from ..backbones.registry import load_backbone
from ..errors import ConfigError
from ..objectives import Channel, ClassLogit, Neuron, Objective, RenderBatch
from ..objectives.image_distance import load_image
from ..run.writer import atomic_write_bytes, read_json, safe_name, strict_json, to_uint8, write_json
from .strategy import STRATEGY_NAME  # importing it registers strategy="unit_parallel" with Lightning

__all__ = [
    "IMAGE_SUFFIXES", "list_images", "ImageFolderStream", "TopKExamples", "merge_topk", "unit_scores",
    "ExamplesModule", "find_examples", "save_examples", "objective_from_text", "examples_command",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Every image file under ``folder`` (recursively), sorted by relative path: the image ids are indices."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"Image folder {str(root)!r} does not exist; give a folder of PNG/JPEG images.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"No images ({', '.join(IMAGE_SUFFIXES)}) under {str(root)!r}.")
    return files


class ImageFolderStream(Dataset):
    """``(image (3, S, S) in [0, 1], id)``: each file centre-cropped to a square and resized to ``size``."""

    def __init__(self, files: Sequence[str | os.PathLike], size: int) -> None:
        self.files, self.size = [Path(f) for f in files], int(size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return load_image(self.files[index], self.size)[0], index


class _Shard(Sampler):
    """Indices ``rank, rank + world, ...``: every image exactly once over all ranks (no padding duplicates)."""

    def __init__(self, n: int, rank: int, world: int) -> None:
        self.indices = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def merge_topk(values: torch.Tensor, ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the ``k`` largest of (U, M) ``values``; ties go to the smaller id; empty slots (id -1) last.

    Returns (U, k) values and (U, k) ids.
    """
    # empty slots sort after every real entry, whatever its value
    empty = ids < 0
    key_ids = torch.where(empty, torch.full_like(ids, torch.iinfo(torch.long).max), ids)
    order = torch.argsort(key_ids, dim=1, stable=True)
    values, ids, empty = values.gather(1, order), ids.gather(1, order), empty.gather(1, order)
    ranked = torch.where(empty, torch.full_like(values, float("-inf")), values)
    order = torch.argsort(ranked, dim=1, descending=True, stable=True)[:, :k]
    return values.gather(1, order), ids.gather(1, order)


class TopKExamples(Metric):
    """Exact per-unit top-k over a stream of scores. ``update(scores (B, U), ids (B,))``.

    ``largest=False`` keeps the k smallest. ``compute() -> (values (U, k), ids (U, k))``, best first; while fewer
    than k images were seen, the missing slots have id -1. Syncs across ranks (each rank's lists are merged).
    """

    full_state_update = False

    def __init__(self, num_units: int, k: int, largest: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_units < 1 or k < 1:
            raise ConfigError(f"TopKExamples needs num_units >= 1 and k >= 1, got {num_units} and {k}.")
        self.num_units, self.k, self.largest = int(num_units), int(k), bool(largest)
        self.add_state("values", default=torch.full((num_units, k), float("-inf")), dist_reduce_fx=None)
        self.add_state("ids", default=torch.full((num_units, k), -1, dtype=torch.long), dist_reduce_fx=None)

    def update(self, scores: torch.Tensor, ids: torch.Tensor | Sequence[int]) -> None:
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.ids.device).flatten()
        if scores.dim() != 2 or scores.shape[1] != self.num_units or scores.shape[0] != ids.numel():
            raise ConfigError(f"TopKExamples.update needs scores (B, {self.num_units}) and B ids, "
                             f"got {tuple(scores.shape)} and {ids.numel()}.")
        signed = scores.detach().float().to(self.values.device) * (1 if self.largest else -1)
        values = torch.cat([self.values, signed.t()], dim=1)
        all_ids = torch.cat([self.ids, ids.view(1, -1).expand(self.num_units, -1)], dim=1)
        self.values, self.ids = merge_topk(values, all_ids, self.k)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        values, ids = self.values, self.ids
        if values.dim() == 3:  # synced: (world, U, k) -> (U, world * k)
            values, ids = values.permute(1, 0, 2).flatten(1), ids.permute(1, 0, 2).flatten(1)
        values, ids = merge_topk(values, ids, self.k)
        return values * (1 if self.largest else -1), ids


def unit_scores(objective: Objective, acts: dict[str, torch.Tensor], units: torch.Tensor,
                budget: int = 1 << 24) -> torch.Tensor:
    """Every image's score for every unit: (B, U), by the objective's ``activation``.

    Plain ``Channel`` and ``ClassLogit`` read a (B, C) summary directly; any other objective sees the activations
    repeated once per unit (in chunks of at most ``budget`` elements).
    """
    units = units.to(next(iter(acts.values())).device)
    fast = _summary(objective, acts)
    if fast is not None:
        return fast[:, units]
    b = next(iter(acts.values())).shape[0]
    per_image = sum(a[0].numel() for a in acts.values())
    chunk = max(1, budget // max(1, b * per_image))
    out = []
    for part in units.split(chunk):
        repeated = {name: a.repeat_interleave(part.numel(), dim=0) for name, a in acts.items()}
        batch = RenderBatch(acts=repeated, units=part.repeat(b))
        out.append(objective.activation(batch).view(b, part.numel()))
    return torch.cat(out, dim=1)


def _summary(objective: Objective, acts: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """(B, C) scores of all channels for the common objectives, or None."""
    if type(objective) is Channel and objective.unit is None:
        return objective.channel_means(acts)
    if type(objective) is ClassLogit and objective.unit is None and objective.normalize == "logit":
        raw = acts[objective.layer]
        return objective.layout_of(raw).channels_first(raw).flatten(2).mean(-1)
    return None


_OBJECTIVES = {"Channel": Channel, "ClassLogit": ClassLogit, "Neuron": Neuron}


def objective_from_text(text: str) -> Objective:
    """``"Channel(features.8)"``, ``"ClassLogit(output)"``, ``"Neuron(blocks.6)"`` (an index's ``objective``)."""
    match = re.fullmatch(r"\s*(\w+)\(\s*([^,()\s]+)\s*\)\s*", text)
    if not match or match.group(1) not in _OBJECTIVES:
        raise ConfigError(f"Cannot score dataset examples for objective {text!r}; pass --objective as "
                         f"{' / '.join(f'{n}(<layer>)' for n in _OBJECTIVES)}.")
    return _OBJECTIVES[match.group(1)](match.group(2))


class ExamplesModule(pl.LightningModule):
    """Stream images through a frozen backbone with ``Trainer.predict`` and keep each unit's top-k (and bottom-k).

    After ``predict``, ``result`` holds ``{"top": (values (U, k), ids (U, k)), "bottom": ...}`` on every rank.
    """

    def __init__(self, backbone: str, objective: Objective, units: Sequence[int], files: Sequence[str | os.PathLike],
                 k: int = 9, least: bool = False, batch_size: int = 16, num_workers: int = 0,
                 weights: str | None = "DEFAULT", checkpoint_class: str | None = None, size: int | None = None) -> None:
        super().__init__()
        if not units:
            raise ConfigError("ExamplesModule needs at least one unit.")
        self.loaded = load_backbone(backbone, weights=weights, checkpoint_class=checkpoint_class)
        self.backbone, self.preprocess = self.loaded.model, self.loaded.preprocess
        self.objective = objective
        self.probe = LayerProbe(self.backbone, list(objective.layers))
        self.size = int(size or self.loaded.input_size)
        probe_input = self.loaded.model_input(torch.full((1, 3, self.size, self.size), 0.5))
        objective.use_layouts(self.probe.layouts(probe_input, objective.stated_layouts()))  # BHWC, tokens: as rendered
        self.register_buffer("units", torch.tensor(list(units), dtype=torch.long), persistent=False)
        self.files = [Path(f) for f in files]
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.top = TopKExamples(len(units), k, largest=True)
        self.bottom = TopKExamples(len(units), k, largest=False) if least else None
        self.result: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def predict_dataloader(self) -> DataLoader:
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self._trainer else (0, 1)
        dataset = ImageFolderStream(self.files, self.size)
        return DataLoader(dataset, batch_size=self.batch_size, sampler=_Shard(len(dataset), rank, world),
                          num_workers=self.num_workers)

    @torch.no_grad()
    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, ids = batch
        scores = unit_scores(self.objective, self.probe(self.loaded.model_input(images)), self.units)
        self.top.update(scores, ids)
        if self.bottom is not None:
            self.bottom.update(scores, ids)

    def on_predict_epoch_end(self) -> None:  # every rank: compute() syncs the metrics
        self.result = {"top": self.top.compute()}
        if self.bottom is not None:
            self.result["bottom"] = self.bottom.compute()


def find_examples(backbone: str, objective: Objective, units: Sequence[int], folder: str | os.PathLike,
                  k: int = 9, least: bool = False, trainer: pl.Trainer | None = None,
                  **module_options: Any) -> tuple[ExamplesModule, list[Path]]:
    """Run :class:`ExamplesModule` over ``folder``; returns the module (``.result``) and the image files."""
    files = list_images(folder)
    module = ExamplesModule(backbone, objective, units, files, k=k, least=least, **module_options)
    trainer = trainer or pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                                    enable_model_summary=False, use_distributed_sampler=False)
    trainer.predict(module, return_predictions=False)
    return module, files


def save_examples(run_dir: str | os.PathLike, module: ExamplesModule, files: Sequence[Path],
                  folder: str | os.PathLike, thumb: int = 96) -> Path:
    """Write ``examples/<layer>/examples.json`` and the listed images' thumbnails into ``run_dir`` (call once)."""
    run_dir, folder = Path(run_dir), Path(folder)
    layer = module.objective.layers[0]
    out = run_dir / "examples" / safe_name(layer)
    units = module.units.tolist()
    needed: set[int] = set()
    table: dict[str, dict[str, list[dict[str, Any]]]] = {str(u): {} for u in units}
    for kind, (values, ids) in module.result.items():
        for row, unit in enumerate(units):
            entries = []
            for value, index in zip(values[row].tolist(), ids[row].tolist()):
                if index < 0:
                    continue
                needed.add(index)
                entries.append({"id": index, "image": f"examples/{safe_name(layer)}/thumbs/{index:06d}.jpg",
                                "source": str(files[index].relative_to(folder)),
                                "activation": strict_json(value)})  # a NaN score: null
            table[str(unit)][kind] = entries
    for index in sorted(needed):  # the model's view (centre crop) of each listed image, as a small JPEG
        buffer = io.BytesIO()
        Image.fromarray(to_uint8(load_image(files[index], thumb)[0])).save(buffer, format="JPEG", quality=90)
        atomic_write_bytes(out / "thumbs" / f"{index:06d}.jpg", buffer.getvalue())
    index_path = out / "examples.json"
    write_json(index_path, {
        "format": "lit_actmax.examples/1", "layer": layer, "objective": module.objective.describe(),
        "backbone": module.loaded.spec, "folder": str(folder.resolve()), "images": len(files),
        "k": module.top.k, "size": module.size, "units": table,
    })
    return index_path


def examples_command(argv: Sequence[str]) -> int:
    """``lit-actmax examples RUN_DIR --images FOLDER``: dataset examples of a run's units, saved into the run."""
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
    args = parser.parse_args(list(argv))
    try:
        return _examples(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"lit-actmax examples: error: {error}", file=sys.stderr)
        return 2


def _examples(args: argparse.Namespace) -> int:
    from ..core.units import parse_units

    run_dir = Path(args.run_dir)
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
