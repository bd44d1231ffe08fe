"""Random translation, rotation and zoom of the current images between epochs (midnite's ``RandomTransform``).

Not to be confused with :class:`lit_actmax.augment.RandomAffine`, a per-step *augmentation* of the views the
model sees: this callback moves the image itself, once per scheduled epoch, so the optimization must make it
robust to the motion. Both warp with :func:`lit_actmax.image.ops.warp`. Each image draws its motion from its own
generator, seeded by (seed, unit, variant, ``STREAM_AFFINE``, epoch within the group): the same unit moves the
same way whatever its batch, rank or resume.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..core.seeding import STREAM_AFFINE, unit_generators
from ..errors import ConfigError
from ..image.ops import WARP_BORDERS, affine_matrices, check_border, warp
from .schedule import ImageCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["RandomAffineBetweenEpochs"]


class RandomAffineBetweenEpochs(ImageCallback):
    """Move every image by a random shift of up to ``shift`` pixels per axis, a rotation in
    ``[-degrees, degrees]`` (counter-clockwise, as OpenCV) and a zoom by ``1 + u``, ``u`` in ``[-scale, scale]``,
    every ``every`` epochs.

    ``integer_shift`` draws whole pixels, as midnite does (``randint(-shift, shift)``); ``border``
    (:data:`~lit_actmax.image.ops.WARP_BORDERS`): ``"symmetric"`` (default), ``"replicate"`` or ``"constant"``
    with ``fill`` (midnite's OpenCV warp fills black: ``"constant"``, ``fill=0``). midnite's zoom changes the image
    *size*; here all images of a batch share one size, so the zoom is a magnification about the centre at a fixed
    size (use :class:`~.resize.Resize` to grow). The draws of the last application are in ``last_params``
    ({(unit, variant): (dy, dx, degrees, zoom)}).
    """

    def __init__(self, shift: float = 1, degrees: float = 0.3, scale: float = 0.1, every: int = 1, start: int = 0,
                 stop: int | None = None, on_last_epoch: bool = True, integer_shift: bool = True,
                 border: str = "symmetric", fill: float = 0.0, mode: str = "bilinear") -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if shift < 0 or degrees < 0 or not 0 <= scale < 1:
            raise ConfigError(f"shift and degrees must be >= 0 and scale in [0, 1), got {shift}, {degrees}, {scale}.")
        if mode not in ("bilinear", "bicubic", "nearest"):
            raise ConfigError(f"mode must be 'bilinear', 'bicubic' or 'nearest', not {mode!r}.")
        self.shift, self.degrees, self.scale = float(shift), float(degrees), float(scale)
        self.integer_shift, self.border = bool(integer_shift), check_border(border, WARP_BORDERS)
        self.fill, self.mode = float(fill), mode
        self.last_params: dict[tuple[int, int, int], tuple[float, float, float, float]] = {}

    def draw(self, generator: torch.Generator) -> tuple[float, float, float, float]:
        """One image's (dy, dx, degrees, zoom) from its generator."""
        if self.integer_shift:
            limit = int(self.shift)
            dy, dx = (float(torch.randint(-limit, limit + 1, (), generator=generator)) for _ in range(2))
        else:
            dy, dx = (float(self.shift * (2 * torch.rand((), generator=generator) - 1)) for _ in range(2))
        angle = float(self.degrees * (2 * torch.rand((), generator=generator) - 1))
        zoom = float(1 + self.scale * (2 * torch.rand((), generator=generator) - 1))
        return dy, dx, angle, zoom

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        renderer = pl_module.renderer
        items = renderer.items
        generators = unit_generators(renderer.seed, [item.unit for item in items], [item.variant for item in items],
                                     STREAM_AFFINE, pl_module.epoch_in_group)
        draws = torch.tensor([self.draw(g) for g in generators], dtype=torch.float64).view(-1, 4)
        self.last_params = {(item.unit, item.variant, item.target): tuple(d) for item, d in zip(items, draws.tolist())}
        h, w = images.shape[-2:]
        shift = torch.stack([draws[:, 1] / w, draws[:, 0] / h], dim=1)  # pixels (dy, dx) -> fractions (x, y)
        theta = affine_matrices(shift, draws[:, 2], draws[:, 3], size=(h, w))
        return warp(images, theta, self.border, self.fill, self.mode)
