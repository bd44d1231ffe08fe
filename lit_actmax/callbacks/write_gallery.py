"""Write the run's HTML gallery (``<run_dir>/gallery.html``, :mod:`lit_actmax.gallery`) when ``fit`` ends."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info

from ..gallery import build_gallery

__all__ = ["WriteGallery"]


class WriteGallery(pl.Callback):
    """After ``fit`` (once ``index.json`` exists), global rank 0 writes the gallery of the module's run directory.

    ``path`` holds the written file afterwards (None until then, and on other ranks).
    """

    def __init__(self, filename: str = "gallery.html") -> None:
        super().__init__()
        if not filename.endswith(".html") or Path(filename).name != filename:
            raise ValueError(f"filename must be a plain file name ending in .html, got {filename!r}.")
        self.filename = filename
        self.path: Path | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        run_dir = getattr(pl_module, "run_dir", None)
        if not trainer.is_global_zero or run_dir is None or not getattr(pl_module, "save_outputs", True):
            return
        self.path = build_gallery(run_dir, out=self.filename)
        rank_zero_info(f"lit-actmax: gallery {self.path.resolve().as_uri()}")
