"""Every unit's image of a run, in one call, shown inline in a notebook: ``run_images(module)``.

    trainer.fit(module)
    run_images(module)                   # Jupyter shows a labelled grid of every unit (and variant) of the run
    run_images("actmax_runs/lite0/version_0", layer="_blocks.8").images   # [(3, H, W) in [0, 1], ...]

It reads the run folder (``index.json`` and the unit records, so a run still going or stopped shows what it finished),
not the module's memory, so every group of every rank is there (``module.last_finished`` holds only the last group of
one rank). Plain Python: no Lightning.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .html.records import load_run
from .image.contact_sheet import contact_sheet
from .image.io import read_image
from .run.storage import Location, location

__all__ = ["RunImages", "run_images"]


@dataclass
class RunImages:
    """The images of a run's units, in the run's order, with a caption each; ``_repr_png_`` shows them as one grid.

    Attributes:
        run_dir: the run folder they were read from.
        records: each image's unit record (``unit``, ``variant``, ``layer``, ``activation``, ``image``, ...).
        images: each image as ``(3, H, W)`` float32 RGB in [0, 1].
        captions: ``"<layer> <unit>"`` (``/v<variant>`` for variants, the class name when the run has one).
    """

    run_dir: Location
    records: list[dict[str, Any]]
    images: list[torch.Tensor]
    captions: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def grid(self, tile: int = 128, columns: int | None = None) -> Image.Image:
        """One labelled picture of every image, ``tile`` px each."""
        tiles = [Image.fromarray((image.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype("uint8"))
                 for image in self.images]
        return contact_sheet(tiles, self.captions, tile=tile, columns=columns)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.grid().save(buffer, format="PNG")
        return buffer.getvalue()


def run_images(run: str | os.PathLike | Any, layer: str | None = None) -> RunImages:
    """The images of every unit of ``run``: a run folder, or a fitted ``ActMaxModule`` (its ``run_dir``).

    Args:
        run: a run folder (``actmax_runs/<name>/version_<k>``, an atlas folder) or a module after ``fit``.
        layer: only the units of this layer.

    Raises:
        ConfigError: the folder holds no rendered units (or none of ``layer``), or the module wrote none.
    """
    from .errors import ConfigError

    folder = getattr(run, "run_dir", run)
    if folder is None:
        raise ConfigError("this module has no run folder (save_outputs=False, or fit has not run): use "
                          "module.last_finished.images, or give run_images a run folder.")
    folder = location(folder, "run")
    _, records = load_run(folder)
    records = [r for r in records if layer is None or r.get("layer") == layer]
    if not records:
        raise ConfigError(f"{str(folder)!r} holds no units of layer {layer!r}; its index lists the layers.")
    records.sort(key=lambda r: (str(r.get("layer")), int(r.get("unit", 0)), int(r.get("variant", 0))))
    layers = {r.get("layer") for r in records}
    captions = []
    for r in records:
        text = f"{r.get('layer')} {r.get('unit')}" if len(layers) > 1 else f"unit {r.get('unit')}"
        text += f"/v{r['variant']}" if int(r.get("variant", 0)) else ""
        captions.append(f"{text} {r['label']}" if r.get("label") else text)
    images = [read_image(folder / str(r["image"])) for r in records]
    return RunImages(folder, records, images, captions)
