"""Transforms that follow the optimization's progress (:class:`Scheduled`), and the two that do: MACO's resized
boxes (:class:`MultiCrop`) and native-resolution windows (:class:`RandomCrop`), large first, small last.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Transform
from .geometry import random_crops

__all__ = ["SCHEDULES", "check_schedule", "schedule", "set_progress", "Scheduled", "MultiCrop", "RandomCrop"]


#: The kinds of :func:`schedule`.
SCHEDULES = ("linear", "cosine", "constant")


def check_schedule(kind: str) -> str:
    """``kind`` if it is one of :data:`SCHEDULES`; else a :class:`~lit_actmax.errors.ConfigError`."""
    if kind not in SCHEDULES:
        raise ConfigError(f"schedule must be 'linear', 'cosine' or 'constant', not {kind!r}.")
    return kind


def schedule(start: float, end: float, progress: float, kind: str = "linear") -> float:
    """A value going from ``start`` (progress 0) to ``end`` (progress 1): ``linear``, ``cosine`` or ``constant``."""
    t = min(max(float(progress), 0.0), 1.0)
    if check_schedule(kind) == "constant":
        return start
    if kind == "cosine":
        t = 0.5 * (1 - math.cos(math.pi * t))
    return start + (end - start) * t


def set_progress(transform: nn.Module, progress: float) -> None:
    """Tell every scheduled transform inside ``transform`` how far the optimization is: 0 first step, 1 last."""
    for module in transform.modules():
        if isinstance(module, Scheduled):
            module.progress = float(progress)


class Scheduled(Transform):
    """A transform whose settings follow the optimization's progress (``self.progress`` in [0, 1], set by the
    module before every step with :func:`set_progress`)."""

    progress: float = 0.0


class MultiCrop(Scheduled):
    """``crops`` random square boxes per image, each resized to ``size`` x ``size``: (B, 3, H, W) -> (B * crops, ...).

    The crops of image ``b`` are rows ``b * crops`` ... ``b * crops + crops - 1``; the module averages the
    objective over them, all in one forward pass. A box's side is a fraction of the shorter image side, drawn
    uniformly from a range that moves from ``start`` (first step) to ``end`` (last step) along ``schedule``
    (``"linear"``, ``"cosine"`` or ``"constant"``): large boxes first (global structure), small ones last
    (detail), as in MACO. Boxes lie inside the image; their position is uniform. ``size=None`` keeps the side of
    the image. Downscaling boxes are supersampled (antialiased). ``last_boxes`` holds the boxes of the last call,
    (B, crops, 4) as pixel ``(x0, y0, x1, y1)``. Put geometric transforms before it; :class:`Noise` after it.
    """

    def __init__(
        self, crops: int = 8, size: int | None = None, start: Sequence[float] = (0.5, 1.0),
        end: Sequence[float] = (0.2, 0.5), schedule: str = "linear",
    ) -> None:
        super().__init__()
        if crops < 1:
            raise ConfigError(f"crops must be at least 1, got {crops}.")
        for name, box in (("start", start), ("end", end)):
            if len(box) != 2 or not 0 < box[0] <= box[1] <= 1:
                raise ConfigError(f"{name} must be a range (low, high) with 0 < low <= high <= 1, got {list(box)}.")
        check_schedule(schedule)
        self.crops, self.size = int(crops), (None if size is None else int(size))
        self.start, self.end = (float(start[0]), float(start[1])), (float(end[0]), float(end[1]))
        self.schedule = schedule
        self.last_boxes: torch.Tensor | None = None

    def box_range(self, progress: float | None = None) -> tuple[float, float]:
        """The (low, high) box side, as a fraction of the shorter image side, at ``progress`` (default: current)."""
        p = self.progress if progress is None else progress
        return (schedule(self.start[0], self.end[0], p, self.schedule), schedule(self.start[1], self.end[1], p, self.schedule))

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        b, c, h, w = images.shape
        if len(generators) != b:
            raise ConfigError(f"MultiCrop got {b} images but {len(generators)} generators; put it after other crops.")
        low, high = self.box_range()
        side = min(h, w)
        out = self.size or side
        draws = torch.stack([torch.rand(self.crops, 3, generator=g, dtype=torch.float64) for g in generators])
        box = (low + (high - low) * draws[..., 0]) * side  # (B, crops) box side in pixels
        x0 = draws[..., 1] * (w - box)
        y0 = draws[..., 2] * (h - box)
        self.last_boxes = torch.stack([x0, y0, x0 + box, y0 + box], dim=-1).float()
        # affine_grid maps output [-1, 1] onto the box, in the input's normalized coordinates (align_corners=False)
        zeros = torch.zeros_like(box)
        theta = torch.stack([
            torch.stack([box / w, zeros, (2 * x0 + box) / w - 1], dim=-1),
            torch.stack([zeros, box / h, (2 * y0 + box) / h - 1], dim=-1),
        ], dim=-2).view(b * self.crops, 2, 3)
        # a box larger than the output is supersampled by its own factor (never the batch's largest: a crop must not
        # depend on the other images of the batch)
        factors = (box.flatten() / out).ceil().clamp(min=1).long()
        source = images.repeat_interleave(self.crops, dim=0)
        theta = theta.to(images.device, images.dtype)
        crops = source.new_empty(b * self.crops, c, out, out)
        for factor in factors.unique().tolist():
            rows = (factors == factor).nonzero().flatten().to(images.device)
            grid = F.affine_grid(theta[rows], [rows.numel(), c, out * factor, out * factor], align_corners=False)
            sampled = F.grid_sample(source[rows], grid, mode="bilinear", padding_mode="border", align_corners=False)
            crops = crops.index_copy(0, rows, F.avg_pool2d(sampled, factor) if factor > 1 else sampled)
        return crops


class RandomCrop(Scheduled):
    """One random square window per image at the image's own resolution (no resampling): (B, 3, H, W) ->
    (B, 3, s, s).

    The side ``s`` is a fraction of the shorter image side that goes from ``start`` (first step) to ``end`` (last
    step) along ``schedule``; it is the same for every image of a step (so the views stay one batch, and an image's
    view depends only on its own draw and the step), the position is uniform per image. Unlike
    :class:`MultiCrop`'s resized boxes, a window shows the model the image's details at their own scale: nothing
    asks the image for detail finer than the model sees. A window of side ``s`` costs about ``s**2`` of a full view.

    ``overhang=True``: the window's centre is uniform over the whole image and the image is mirrored past its edges
    (reflect padding of ``s // 2``): a border pixel is in fewer windows than a central one, but then with its mirror
    image too, so it gets about the centre's gradient and the picture has no faded frame. With ``False`` windows lie
    inside the image and the outer ``s / 2`` pixels are seen less often than the centre.

    ``multiple``: the side is rounded to a multiple of this many pixels. CPU kernels pick their code path by input
    size too: at 65 and 77 px, lite0's input gradients at 2 threads differed between batches of 8, 3 and 2 (so a
    unit's image would depend on its batch), while every multiple of 8 from 40 to 256 px agreed.
    """

    def __init__(self, start: float = 1.0, end: float = 0.7, schedule: str = "linear", overhang: bool = False,
                 multiple: int = 8) -> None:
        super().__init__()
        if multiple < 1:
            raise ConfigError(f"RandomCrop multiple must be a whole number of pixels >= 1, got {multiple}.")
        self.overhang, self.multiple = bool(overhang), int(multiple)
        for name, value in (("start", start), ("end", end)):
            if not 0 < value <= 1:
                raise ConfigError(f"RandomCrop {name} must be a fraction of the image side in (0, 1], got {value}.")
        self.start, self.end, self.schedule = float(start), float(end), check_schedule(schedule)

    def side(self, image_side: int, progress: float | None = None) -> int:
        """The window side in pixels for images whose shorter side is ``image_side``, at ``progress`` (default:
        current)."""
        fraction = schedule(self.start, self.end, self.progress if progress is None else progress, self.schedule)
        side = self.multiple * round(fraction * image_side / self.multiple)
        return max(1, min(image_side, side if side >= self.multiple else round(fraction * image_side)))

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        side = self.side(min(images.shape[-2:]))
        # side <= the image side, so side // 2 is within what reflect padding takes
        return random_crops(images, generators, side, side, reflect=side // 2 if self.overhang and side > 1 else 0)
