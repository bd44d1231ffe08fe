"""Grow the images between epochs (midnite's ``ResizeTransform``): start small to pick up low frequencies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import override

from ..errors import ConfigError
from ..image.ops import grown_size
from .schedule import ImageCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["Resize"]


class Resize(ImageCallback):
    """Multiply the image size by ``factor`` every ``every`` epochs, up to ``max_size`` (longer side), then go on.

    New size: ``round(h * factor), round(w * factor)`` as ``cv2.resize(fx=fy=factor)`` (so 1.005 leaves images
    under 100 px unchanged, as in midnite). The parameterization is resized in place (the same ``nn.Parameter``
    objects, see :meth:`~lit_actmax.params.ImageParam.resize`) with ``mode`` interpolation, and the optimizer's
    state for the images (Adam moments of the old shape) is dropped; training goes on at the new size. Every
    group of units starts again from the module's ``size``. By default it does not act after a group's last
    epoch (an image enlarged after its last step would be no more detailed). ``sizes`` lists the sizes reached.
    """

    def __init__(self, factor: float = 1.2, max_size: int | None = None, every: int = 1, start: int = 0,
                 stop: int | None = None, on_last_epoch: bool = False, mode: str = "bicubic") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if factor <= 0:
            raise ConfigError(f"factor must be positive, got {factor}.")
        if max_size is not None and int(max_size) < 1:
            raise ConfigError(f"max_size must be at least 1, got {max_size}.")
        if mode not in ("bilinear", "bicubic"):
            raise ConfigError(f"mode must be 'bilinear' or 'bicubic', not {mode!r}.")
        self.factor, self.mode = float(factor), mode
        self.max_size = None if max_size is None else int(max_size)
        self.sizes: list[tuple[int, int]] = []

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> None:
        size = grown_size(pl_module.renderer.param.size, self.factor, self.max_size)
        if self.max_size is not None and max(pl_module.renderer.param.size) >= self.max_size:
            size = tuple(pl_module.renderer.param.size)  # already at (or above) the cap: keep it
        if tuple(size) != tuple(pl_module.renderer.param.size):
            pl_module.renderer.param.resize(size, mode=self.mode)
            pl_module.reset_optimizer_state()
        self.sizes.append(tuple(pl_module.renderer.param.size))
        return None

    @override
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "sizes": [list(s) for s in self.sizes]}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.sizes = [tuple(s) for s in state_dict.get("sizes", [])]
