"""Show the images while they are being optimized, in the logger the user already has.

Every ``every_n_epochs`` epochs, the current images of all ranks are gathered and global rank 0 logs one grid per
layer: TensorBoard through ``add_images``, W&B (or any logger with ``log_image``) as captioned images, and every
other logger (CSV, none at all) as a labelled PNG contact sheet in its ``log_dir`` (or ``<run_dir>/logged_images``).
When the last group of units is finished, all final images are logged (``final/<layer>``, in pages of
``max_images``); a run that stops early (``max_time``, ``max_steps``, a requeue signal) logs the images of the units
it finished, including the group it stopped in, when ``fit`` ends; MLflow then also gets the run folder's unit
images, grids and ``index.json`` as artifacts (``lit_actmax/``). Per-unit activation curves (the epoch's mean
activation of each image) go to the loggers as scalars ``unit_activation/<layer>/unit_XXXXX``.

Every rank takes part in the gathers (they are collectives); only global rank 0 writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from typing_extensions import override

from ..errors import ConfigError
from ..image.contact_sheet import contact_sheet
from ..image.io import save_png
from ..lightning.gather import gather_rows
from ..lightning.package import pl, rank_zero_warn
from ..run.files import safe_name
from ..run.records import FinishedUnits, image_stem
from ..run.storage import Location, location
from .activation_curves import EpochActivations
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..core.schedule import UnitImage
    from ..lightning.module import ActMaxModule

__all__ = ["LoggerImages", "log_image_grid", "log_run_artifacts", "thumbnails"]


def thumbnails(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, 3, h, w) uint8 with the longer side at most ``size`` (aspect kept)."""
    images = images.detach().float().clamp(0, 1)
    h, w = images.shape[-2:]
    scale = size / max(h, w)
    if scale < 1:
        images = F.interpolate(images, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="bilinear",
                               align_corners=False, antialias=True)
    return (images * 255 + 0.5).clamp(0, 255).to(torch.uint8)


def _png_dir(logger: Any, trainer: pl.Trainer) -> Location:
    log_dir = getattr(logger, "log_dir", None) if logger is not None else None
    if log_dir:
        return location(log_dir) / "images"
    run_dir = getattr(trainer.lightning_module, "run_dir", None)
    return location(run_dir or trainer.default_root_dir) / "logged_images"


def log_image_grid(trainer: pl.Trainer, tag: str, images: torch.Tensor, captions: list[str], step: int) -> list[str]:
    """Log (N, 3, h, w) uint8 images under ``tag`` to every logger of ``trainer``; call on global rank 0 only.

    Returns how each logger took them (``"tensorboard"``, ``"log_image"``, ``"mlflow"`` or the PNG path written).
    """
    done = []
    for logger in trainer.loggers or [None]:
        experiment = getattr(logger, "experiment", None) if logger is not None else None
        if logger is not None and callable(getattr(logger, "log_image", None)):  # W&B and alike
            logger.log_image(key=tag, images=[im.permute(1, 2, 0).cpu().numpy() for im in images], step=step,
                             caption=list(captions))
            done.append("log_image")
        elif callable(getattr(experiment, "add_images", None)):  # TensorBoard: one grid per call
            experiment.add_images(tag, images.cpu(), global_step=step, dataformats="NCHW")
            flush = getattr(experiment, "flush", None)
            if callable(flush):
                flush()
            done.append("tensorboard")
        else:  # a labelled contact sheet: MLflow logs it as an image; loggers without images (CSV) or none, a PNG
            tiles = [Image.fromarray(im.permute(1, 2, 0).cpu().numpy()) for im in images]
            sheet = contact_sheet(tiles, captions, tile=max(images.shape[-2:]))
            if callable(getattr(experiment, "log_image", None)) and getattr(logger, "run_id", None):  # MLflow
                experiment.log_image(logger.run_id, sheet, key=tag, step=step)
                done.append("mlflow")
                continue
            path = _png_dir(logger, trainer) / f"{safe_name(tag)}_step{step:07d}.png"
            save_png(path, sheet)
            done.append(str(path))
    return done


def log_run_artifacts(trainer: pl.Trainer, run_dir: Location) -> list[str]:
    """Upload ``run_dir``'s ``images/``, ``grids/`` and ``index.json`` as artifacts (under ``lit_actmax/``) to every
    logger that stores artifacts by run (MLflow: ``experiment.log_artifacts(run_id, ...)``); returns the run ids. A run
    folder at a URL is not copied (a warning says so): it is already in a store."""
    done = []
    for logger in trainer.loggers:
        experiment, run_id = getattr(logger, "experiment", None), getattr(logger, "run_id", None)
        if not run_id or not callable(getattr(experiment, "log_artifacts", None)):
            continue
        if not isinstance(run_dir, Path):
            rank_zero_warn(f"The run folder {run_dir} is at a URL, so {type(logger).__name__} gets no copy of it as "
                           "artifacts.")
            continue
        for folder in ("images", "grids"):
            if (run_dir / folder).is_dir():
                experiment.log_artifacts(run_id, str(run_dir / folder), f"lit_actmax/{folder}")
        if (run_dir / "index.json").is_file():
            experiment.log_artifact(run_id, str(run_dir / "index.json"), "lit_actmax")
        done.append(str(run_id))
    return done


class LoggerImages(ActMaxCallback):
    """Log grids of the current images every ``every_n_epochs`` epochs, all final images at the end, and
    per-unit activation curves as scalars.

    Args:
        every_n_epochs: log the current images after every k-th epoch (0: only the final images).
        max_images: at most this many images per logged grid (final images are split into pages of it).
        size: longer side of each logged image in pixels (images are downsized, never enlarged).
        final: log all final images when the last group of units is finished.
        curves: log each image's per-epoch mean activation as a scalar.
    """

    def __init__(self, every_n_epochs: int = 1, max_images: int = 64, size: int = 128, final: bool = True,
                 curves: bool = True) -> None:
        super().__init__()
        if every_n_epochs < 0:
            raise ConfigError(f"every_n_epochs must be 0 (final images only) or positive, got {every_n_epochs}.")
        if max_images < 1 or size < 1:
            raise ConfigError(f"max_images and size must be positive, got {max_images} and {size}.")
        self.every_n_epochs, self.max_images, self.size = int(every_n_epochs), int(max_images), int(size)
        self.final, self.curves = bool(final), bool(curves)
        self.epochs = EpochActivations()
        self.logged: list[tuple[str, int, int]] = []  # (tag, step, number of images), on global rank 0
        self._final_images: list[torch.Tensor] = []  # uint8 thumbnails of finished units on this rank
        self._final_keys: list[tuple[int, int]] = []  # their (unit, variant)
        self._final_pending = False  # finished units whose final grid is not logged yet (same on every rank)
        self._thumb_hw: tuple[int, int] | None = None

    # -- helpers ----------------------------------------------------------------------------------------
    @staticmethod
    def _caption(pl_module: ActMaxModule, unit: int, variant: int) -> str:
        renderer = pl_module.renderer
        names = renderer.backbone_info.class_names
        text = str(unit) + (f" v{variant}" if pl_module.schedule.variants > 1 else "")
        if names and tuple(renderer.objective.layers[:1]) == ("output",) and unit < len(names):
            text += f" {names[unit]}"
        return text

    def _gather_items(self, pl_module: ActMaxModule, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Current group's (units, variants, valid, *tensors) of all ranks (collective)."""
        items = pl_module.renderer.items
        device = pl_module.device
        units = torch.tensor([i.unit for i in items], dtype=torch.long, device=device)
        variants = torch.tensor([i.variant for i in items], dtype=torch.long, device=device)
        valid = torch.tensor([i.saved for i in items], dtype=torch.bool, device=device)
        return gather_rows(pl_module.trainer.strategy, units, variants, valid, *(t.to(device) for t in tensors))

    def _log_pages(self, trainer: pl.Trainer, pl_module: ActMaxModule, tag: str, units: torch.Tensor,
                   variants: torch.Tensor, images: torch.Tensor) -> None:
        order = sorted(range(len(units)), key=lambda i: (int(units[i]), int(variants[i])))
        pages = [order[i:i + self.max_images] for i in range(0, len(order), self.max_images)]
        for p, page in enumerate(pages):
            name = tag if len(pages) == 1 else f"{tag}/page_{p}"
            captions = [self._caption(pl_module, int(units[i]), int(variants[i])) for i in page]
            log_image_grid(trainer, name, images[page], captions, trainer.global_step)
            self.logged.append((name, trainer.global_step, len(page)))

    # -- hooks ------------------------------------------------------------------------------------------
    @override
    def setup(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        if pl_module.renderer.across_layers:
            raise ConfigError("LoggerImages logs a run of one objective; with units across layers use the run "
                              "folder's images and site (lit-actmax site RUN_DIR), or render one layer per run.")

    @override
    def on_units_started(self, trainer: pl.Trainer, pl_module: ActMaxModule, items: Sequence[UnitImage]) -> None:
        self.epochs.reset()

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.curves:
            self.epochs.add(pl_module.step_activations)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        layer = safe_name(pl_module.renderer.layers[0])
        means = self.epochs.end_epoch() if self.curves else None
        if means is not None and means.numel() == len(pl_module.renderer.items):
            units, variants, valid, values = self._gather_items(pl_module, means)
            if trainer.is_global_zero:
                metrics = {
                    f"unit_activation/{layer}/{image_stem(int(u), int(v), pl_module.schedule.variants)}": float(x)
                    for u, v, ok, x in zip(units, variants, valid, values) if ok
                }
                for logger in trainer.loggers:
                    logger.log_metrics(metrics, step=trainer.global_step)
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs and epoch % self.every_n_epochs == 0:
            with torch.no_grad():
                images = thumbnails(pl_module.renderer.param(), self.size)
            units, variants, valid, images = self._gather_items(pl_module, images)
            if trainer.is_global_zero and bool(valid.any()):
                keep = valid.nonzero().flatten().cpu()
                self._log_pages(trainer, pl_module, f"actmax/{layer}", units.cpu()[keep], variants.cpu()[keep],
                                images.cpu()[keep][: self.max_images])

    @override
    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        if not self.final:
            return
        small = thumbnails(finished.images, self.size).cpu()
        for i, ok in enumerate(finished.valid):
            if ok:
                self._final_images.append(small[i])
                self._final_keys.append((finished.units[i], finished.variants[i]))
        self._final_pending, self._thumb_hw = True, (int(small.shape[-2]), int(small.shape[-1]))
        if pl_module.group_index == pl_module.schedule.num_groups - 1:
            self._log_final(trainer, pl_module)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        """A run that stopped before its last group: log the final images of the units it did finish. Then give
        MLflow the run folder's images, grids and index as artifacts (global rank 0)."""
        if self.final and self._final_pending and self._thumb_hw is not None:
            self._log_final(trainer, pl_module)
        if self.final and trainer.is_global_zero and pl_module.run_dir is not None:
            log_run_artifacts(trainer, pl_module.run_dir)

    def _log_final(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        """Gather every rank's finished thumbnails (collective) and log them on global rank 0."""
        device = pl_module.device
        h, w = self._thumb_hw
        mine = torch.stack(self._final_images) if self._final_images else torch.zeros(0, 3, h, w, dtype=torch.uint8)
        keys = torch.tensor(self._final_keys, dtype=torch.long).view(-1, 2)
        keys, images = gather_rows(trainer.strategy, keys.to(device), mine.to(device))
        if trainer.is_global_zero and len(keys):
            layer = safe_name(pl_module.renderer.layers[0])
            self._log_pages(trainer, pl_module, f"final/{layer}", keys[:, 0].cpu(), keys[:, 1].cpu(), images.cpu())
        self._final_images, self._final_keys, self._final_pending = [], [], False

    # -- resume -----------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs.state_dict(), "final_keys": list(self._final_keys),
                "final_images": torch.stack(self._final_images) if self._final_images else None,
                "final_pending": self._final_pending, "thumb_hw": self._thumb_hw}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs.load_state_dict(state_dict.get("epochs", {}))
        self._final_keys = [tuple(k) for k in state_dict.get("final_keys", [])]
        images = state_dict.get("final_images")
        self._final_images = list(images) if images is not None else []
        self._final_pending = bool(state_dict.get("final_pending", bool(self._final_keys)))
        hw = state_dict.get("thumb_hw")
        self._thumb_hw = tuple(hw) if hw is not None else (tuple(images.shape[-2:]) if images is not None else None)
