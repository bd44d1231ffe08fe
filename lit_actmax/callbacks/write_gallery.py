"""Write the run's HTML gallery (``<run_dir>/gallery.html``, :mod:`lit_actmax.html.gallery`) when ``fit`` ends."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from typing_extensions import override

from ..errors import ConfigError
from ..html.gallery import build_gallery
from ..lightning.package import pl, rank_zero_info
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["WriteGallery"]


class WriteGallery(ActMaxCallback):
    """After ``fit`` (once ``index.json`` exists), global rank 0 writes the gallery of the module's run directory.

    ``path`` holds the written file afterwards (None until then, and on other ranks).
    """

    def __init__(self, filename: str = "gallery.html") -> None:
        super().__init__()
        if not filename.endswith(".html") or Path(filename).name != filename:
            raise ConfigError(f"filename must be a plain file name ending in .html, got {filename!r}.")
        self.filename = filename
        self.path: Path | None = None

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        run_dir = pl_module.run_dir
        if not trainer.is_global_zero or run_dir is None:
            return
        self.path = build_gallery(run_dir, out=self.filename)
        rank_zero_info(f"lit-actmax: gallery {self.path.resolve().as_uri()}")
