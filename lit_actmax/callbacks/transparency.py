"""Transparency maps (MACO): how much each pixel of a unit's image mattered to the optimization.

For every image, the callback accumulates ``|d loss / d image|`` (summed over colour channels) over all the
optimizer steps of its group. Pixels that no augmented view ever showed to the model get exactly zero. When the
group finishes, each image gets, next to its PNG in ``images/<layer>/``:

- ``<stem>_transparency.npy``: the raw map, float32 (H, W);
- ``<stem>_alpha.png``: the image as RGBA, alpha = the map scaled by its ``quantile`` (clipped to 1) ** ``gamma``.

Paths go into the unit's record under ``files``; ``maps`` keeps the last maps in memory, {(unit, variant): (H, W)}.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from ..rundir import atomic_write_bytes, image_stem, save_png

__all__ = ["Transparency", "alpha_composite"]


def alpha_composite(image: torch.Tensor, weights: torch.Tensor, quantile: float = 0.99, gamma: float = 1.0) -> torch.Tensor:
    """(3, H, W) image and (H, W) non-negative map -> (4, H, W) RGBA, alpha = (map / its quantile) ** gamma in [0, 1]."""
    scale = torch.quantile(weights.flatten().float(), quantile) if weights.numel() else torch.tensor(0.0)
    alpha = (weights / scale).clamp(0, 1) if float(scale) > 0 else torch.zeros_like(weights)
    return torch.cat([image.float().cpu(), alpha.float().cpu().pow(gamma).unsqueeze(0)], dim=0)


class Transparency(pl.Callback):
    """Accumulate each image's absolute gradient per pixel and save it as a map and an RGBA PNG.

    Args:
        quantile: the map value that becomes fully opaque (robust to a few hot pixels); 1.0 = the maximum.
        gamma: exponent on the normalized map (< 1 shows weak regions more).
        save: write the ``.npy`` map and the RGBA PNG (when the module saves outputs).
    """

    def __init__(self, quantile: float = 0.99, gamma: float = 1.0, save: bool = True) -> None:
        super().__init__()
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}.")
        if gamma <= 0:
            raise ValueError(f"gamma must be positive, got {gamma}.")
        self.quantile, self.gamma, self.save = float(quantile), float(gamma), save
        self.accumulated: torch.Tensor | None = None  # (N, H, W) for the current group
        self.maps: dict[tuple[int, int], torch.Tensor] = {}
        self._handle: Any = None

    # -- collecting -------------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self._handle is None:
            self._handle = pl_module.param.register_forward_hook(self._on_images)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def on_units_started(self, trainer: pl.Trainer, pl_module: pl.LightningModule, items: list) -> None:
        self.accumulated = None

    def _on_images(self, module: torch.nn.Module, inputs: Any, images: torch.Tensor) -> None:
        if torch.is_grad_enabled() and images.requires_grad:
            images.register_hook(self._accumulate)

    def _accumulate(self, grad: torch.Tensor) -> None:
        g = grad.detach().float().abs().sum(1)  # (N, H, W)
        acc = self.accumulated
        if acc is None or acc.shape[0] != g.shape[0]:
            self.accumulated = g.clone()
            return
        if acc.shape[-2:] != g.shape[-2:]:  # the image was resized: carry the map over
            acc = F.interpolate(acc.unsqueeze(1), size=g.shape[-2:], mode="bilinear", align_corners=False).squeeze(1)
        self.accumulated = acc.to(g.device) + g

    # -- finishing --------------------------------------------------------------------------------------
    def on_units_finished(self, trainer: pl.Trainer, pl_module: pl.LightningModule, finished: Any) -> None:
        n, _, h, w = finished.images.shape
        acc = self.accumulated if self.accumulated is not None else torch.zeros(n, h, w)
        if acc.shape[-2:] != (h, w):
            acc = F.interpolate(acc.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False).squeeze(1)
        acc = acc.cpu()
        folder = pl_module.unit_dir() if (pl_module.save_outputs and pl_module.run_dir is not None) else None
        for i, (unit, variant) in enumerate(zip(finished.units, finished.variants)):
            if not finished.valid[i]:
                continue
            self.maps[(unit, variant)] = acc[i].clone()
            reached = acc[i] > 0
            finished.extras[i]["transparency_coverage"] = float(reached.float().mean())
            if folder is None or not self.save:
                continue
            stem = image_stem(unit, variant, pl_module.variants)
            npy, png = folder / f"{stem}_transparency.npy", folder / f"{stem}_alpha.png"
            atomic_write_bytes(npy, _npy_bytes(acc[i].numpy().astype(np.float32)))
            save_png(png, alpha_composite(finished.images[i], acc[i], self.quantile, self.gamma))
            rel = folder.relative_to(pl_module.run_dir)
            finished.files[i]["transparency"] = str(rel / npy.name)
            finished.files[i]["alpha"] = str(rel / png.name)
        self.accumulated = None

    # -- resume: keep the partial sums of the current group --------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"accumulated": None if self.accumulated is None else self.accumulated.cpu()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.accumulated = state_dict.get("accumulated")


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
