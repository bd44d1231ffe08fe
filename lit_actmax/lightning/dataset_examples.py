"""Dataset examples: the images of a folder that most (and least) activate each unit.

A folder of images is streamed through the frozen backbone (``Trainer.predict``: any number of processes, each
reading its own shard of the files); per unit a :class:`TopKExamples` keeps the ``k`` best (image id, score)
pairs seen so far. The top-k is exact: ties are broken by the smaller image id, and merging the ranks' top-k
lists gives the same answer as sorting all scores at once. A unit's score is the run's objective on the image
(``Channel``: mean over positions, ``ClassLogit``: the logit, ``Neuron``: the centre position, ...).

The result is saved into a run directory for the gallery (format :data:`EXAMPLES_FORMAT`)::

    <run_dir>/examples/<layer>/examples.json     per unit: top (and bottom) lists of {image, source, activation}
    <run_dir>/examples/<layer>/thumbs/<id>.jpg   the model's view (centre crop) of every listed image

The scoring itself is plain torch (:mod:`lit_actmax.core.dataset_scores`); the command is
:mod:`lit_actmax.cli.examples` (``lit-actmax examples RUN_DIR --images FOLDER --k 9 --least``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchmetrics import Metric

from ..backbones.probe import LayerProbe
from ..backbones.specs import load_backbone
from ..core.dataset_scores import merge_topk, unit_scores
from ..errors import ConfigError
from ..image.io import list_images, load_image, save_jpeg
from ..objectives import Objective
from ..run.files import layer_folder, strict_json, write_json
from ..run.storage import AnyPath, Location, location
from . import strategy  # noqa: F401  (importing it registers strategy="unit_parallel" with Lightning)
from .package import pl

__all__ = ["EXAMPLES_FORMAT", "ImageFolderStream", "TopKExamples", "ExamplesModule", "find_examples", "save_examples"]

#: The format of ``examples.json``; a reader checks it before trusting the fields.
EXAMPLES_FORMAT = "lit_actmax.examples/1"


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


def save_examples(run_dir: AnyPath, module: ExamplesModule, files: Sequence[Path],
                  folder: str | os.PathLike, thumb: int = 96) -> Location:
    """Write ``examples/<layer>/examples.json`` and the listed images' thumbnails into ``run_dir`` (call once)."""
    run_dir, folder = location(run_dir, "run_dir"), Path(folder)
    layer = module.objective.layers[0]
    out = run_dir / "examples" / layer_folder(layer)
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
                entries.append({"id": index, "image": f"examples/{layer_folder(layer)}/thumbs/{index:06d}.jpg",
                                "source": str(files[index].relative_to(folder)),
                                "activation": strict_json(value)})  # a NaN score: null
            table[str(unit)][kind] = entries
    for index in sorted(needed):  # the model's view (centre crop) of each listed image, as a small JPEG
        save_jpeg(out / "thumbs" / f"{index:06d}.jpg", load_image(files[index], thumb)[0], quality=90)
    index_path = out / "examples.json"
    write_json(index_path, {
        "format": EXAMPLES_FORMAT, "layer": layer, "objective": module.objective.describe(),
        "backbone": module.loaded.spec, "folder": str(folder.resolve()), "images": len(files),
        "k": module.top.k, "size": module.size, "units": table,
    })
    return index_path

