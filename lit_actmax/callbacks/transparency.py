"""Transparency maps (MACO): how much each pixel of a unit's image mattered to the optimization.

For every image, the callback accumulates ``|d loss / d image|`` (summed over colour channels) over all the
optimizer steps of its group. Pixels that no augmented view ever showed to the model get exactly zero. When the
group finishes, each image gets, next to its PNG in ``images/<layer>/``:

- ``<stem>_transparency.npy``: the raw map, float32 (H, W);
- ``<stem>_alpha.png``: the image as RGBA, alpha = the map scaled by its ``quantile`` (clipped to 1) ** ``gamma``.

Paths go into the unit's record under ``files``; ``maps`` keeps the last maps in memory, {(unit, variant, target): (H, W)}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from typing_extensions import override

from ..errors import ConfigError
from ..image.io import save_png
from ..lightning.package import pl
from ..run.files import atomic_write_bytes
from ..run.records import FinishedUnits
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..core.schedule import UnitImage
    from ..lightning.module import ActMaxModule

__all__ = ["Transparency", "alpha_composite"]


def alpha_composite(image: torch.Tensor, weights: torch.Tensor, quantile: float = 0.99, gamma: float = 1.0) -> torch.Tensor:
    """(3, H, W) image and (H, W) non-negative map -> (4, H, W) RGBA, alpha = (map / its quantile) ** gamma in [0, 1]."""
    scale = torch.quantile(weights.flatten().float(), quantile) if weights.numel() else torch.tensor(0.0)
    alpha = (weights / scale).clamp(0, 1) if float(scale) > 0 else torch.zeros_like(weights)
    return torch.cat([image.float().cpu(), alpha.float().cpu().pow(gamma).unsqueeze(0)], dim=0)


class Transparency(ActMaxCallback):
    """Accumulate each image's absolute gradient per pixel and save it as a map and an RGBA PNG.

    Args:
        quantile: the map value that becomes fully opaque (robust to a few hot pixels); 1.0 = the maximum.
        gamma: exponent on the normalized map (< 1 shows weak regions more).
        save: write the ``.npy`` map and the RGBA PNG (when the module saves outputs).
    """

    def __init__(self, quantile: float = 0.99, gamma: float = 1.0, save: bool = True) -> None:
        super().__init__()
        if not 0 < quantile <= 1:
            raise ConfigError(f"quantile must be in (0, 1], got {quantile}.")
        if gamma <= 0:
            raise ConfigError(f"gamma must be positive, got {gamma}.")
        self.quantile, self.gamma, self.save = float(quantile), float(gamma), save
        self.accumulated: torch.Tensor | None = None  # (N, H, W) for the current group
        self.maps: dict[tuple[int, int], torch.Tensor] = {}
        self._handle: Any = None

    # -- collecting -------------------------------------------------------------------------------------
    @override
    def setup(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        if stage == "fit" and self._handle is None:
            self._handle = pl_module.renderer.param.register_forward_hook(self._on_images)

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @override
    def on_units_started(self, trainer: pl.Trainer, pl_module: ActMaxModule, items: Sequence[UnitImage]) -> None:
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
    @override
    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        n, _, h, w = finished.images.shape
        acc = self.accumulated if self.accumulated is not None else torch.zeros(n, h, w)
        if acc.shape[-2:] != (h, w):
            acc = F.interpolate(acc.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False).squeeze(1)
        acc = acc.cpu()
        writer = pl_module.writer
        for i in range(len(finished.units)):
            if not finished.valid[i]:
                continue
            self.maps[finished.key(i)] = acc[i].clone()
            reached = acc[i] > 0
            finished.extras[i]["transparency_coverage"] = float(reached.float().mean())
            if writer is None or not self.save:
                continue
            npy, png = writer.path_of(finished, i, "_transparency.npy"), writer.path_of(finished, i, "_alpha.png")
            atomic_write_bytes(npy, _npy_bytes(acc[i].numpy().astype(np.float32)))
            save_png(png, alpha_composite(finished.images[i], acc[i], self.quantile, self.gamma))
            finished.files[i]["transparency"] = writer.relative(npy)
            finished.files[i]["alpha"] = writer.relative(png)
        self.accumulated = None

    # -- resume: keep the partial sums of the current group --------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"accumulated": None if self.accumulated is None else self.accumulated.cpu()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.accumulated = state_dict.get("accumulated")


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
