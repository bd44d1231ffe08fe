"""Geometric transforms: pad, jitter (random crops), and random zoom / rotation / translation in one warp."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..image.ops import WARP_BORDERS, affine_matrices, check_border, warp
from .base import Transform, choice, uniform

__all__ = ["Pad", "Jitter", "random_crops", "RandomAffine", "RandomScale", "RandomRotate"]


class Pad(Transform):
    """Pad every side by ``pad`` pixels of constant ``fill`` (or ``mode="reflect"``: the mirror image, mirrored again
    where ``pad`` exceeds the image; ``"replicate"``: the edge pixels)."""

    def __init__(self, pad: int = 12, fill: float = 0.5, mode: str = "constant") -> None:
        super().__init__()
        self.pad, self.fill, self.mode = int(pad), float(fill), mode

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.pad <= 0:
            return images
        if self.mode == "constant":
            return F.pad(images, [self.pad] * 4, mode="constant", value=self.fill)
        left = self.pad
        while left > 0:  # torch reflects at most side - 1 pixels at a time: a wider pad mirrors the mirror image
            step = left if self.mode == "replicate" else min(left, min(images.shape[-2:]) - 1)
            images, left = F.pad(images, [step] * 4, mode=self.mode), left - step
        return images


class Jitter(Transform):
    """Random crop of size (H - d, W - d) at an offset in [0, d] per image and axis (Lucid's ``jitter(d)``)."""

    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.d = int(d)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.d <= 0:
            return images
        _, _, h, w = images.shape
        return random_crops(images, generators, h - self.d, w - self.d)


def random_crops(images: torch.Tensor, generators: Sequence[torch.Generator], height: int, width: int,
                 reflect: int = 0) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, height, width), channels-last: image ``b``'s window at an offset drawn uniformly from
    ``generators[b]`` (rows first, then columns), pixels as they are (no resampling).

    ``reflect``: the windows are taken from the images mirrored ``reflect`` pixels past every edge (as after
    ``F.pad(images, [reflect] * 4, mode="reflect")``, so ``reflect < min(H, W)``), but only each window's own part
    is mirrored, never the whole image.

    Each window is a slice of its image, so the backward pass places each gradient where its pixel came from; a
    gather (advanced indexing) would scatter it back with ``index_put``, whose deterministic kernel sorts every
    index (a tenth of the default step on a CPU). The output is channels-last, the layout the backbone has always
    been given here (convolution kernels choose their code path by layout too)."""
    _, _, h, w = images.shape
    windows = []
    for image, generator in zip(images.unbind(0), generators):
        top = int(torch.randint(h + 2 * reflect - height + 1, (), generator=generator)) - reflect
        left = int(torch.randint(w + 2 * reflect - width + 1, (), generator=generator)) - reflect
        windows.append(mirrored_window(image, top, left, height, width))
    return torch.stack(windows).contiguous(memory_format=torch.channels_last)


def mirrored_window(image: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """(C, H, W) -> (C, height, width): the window at (``top``, ``left``) of the image mirrored about its edges (a
    negative offset or one that ends past the edge reaches into the mirror image, less than a side away). The
    mirrored part is made by ``reflection_pad2d`` on the smallest region of the image that holds the window and the
    pixels its mirror shows, so values and gradient sums are those of padding the whole image."""
    _, h, w = image.shape
    rows, pad_rows = mirrored_span(top, height, h)
    cols, pad_cols = mirrored_span(left, width, w)
    region = image[:, rows[0]:rows[1], cols[0]:cols[1]]
    if not any(pad_rows + pad_cols):
        return region
    padded = F.pad(region.unsqueeze(0), [*pad_cols, *pad_rows], mode="reflect")[0]
    start_row, start_col = top - rows[0] + pad_rows[0], left - cols[0] + pad_cols[0]
    return padded[:, start_row:start_row + height, start_col:start_col + width]


def mirrored_span(start: int, length: int, side: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The span ``[start, start + length)`` of an axis of ``side`` pixels mirrored about its ends: the part of the
    axis to take (``(low, high)``, with the pixels the mirror shows) and the reflect padding it needs (before,
    after)."""
    end = start + length
    before, after = max(0, -start), max(0, end - side)
    if before >= side or after >= side:
        raise ValueError(f"a window [{start}, {end}) reaches a side or more past an axis of {side} pixels")
    low, high = max(0, start), min(side, end)
    if before:  # the mirror of rows -1..-before is rows 1..before
        high = max(high, before + 1)
    if after:  # the mirror of rows side..side+after-1 is rows side-2..side-1-after
        low = min(low, side - 1 - after)
    return (low, high), (before, after)


class RandomAffine(Transform):
    """Random zoom, rotation and translation per image in one warp (:func:`~lit_actmax.image.ops.warp`), output
    the same size; a per-step augmentation of the views the model sees (the between-epoch motion of the images
    themselves is :class:`lit_actmax.callbacks.RandomAffineBetweenEpochs`).

    ``scales``: zoom factors to choose from (>1 zooms in); ``degrees``: angles (counter-clockwise) to choose from;
    ``shift``: largest translation as a fraction of the image side. Outside samples take ``fill``
    (``border="constant"``, Lucid's grey), the mirror image about the edge (``"symmetric"``: a zoomed-out or
    rotated view shows no grey frame, so the image's border is optimized like its centre) or the edge pixel
    (``"replicate"``).
    """

    def __init__(
        self, scales: Sequence[float] = (1.0,), degrees: Sequence[float] = (0.0,), shift: float = 0.0, fill: float = 0.5,
        border: str = "constant",
    ) -> None:
        super().__init__()
        check_border(border, WARP_BORDERS)
        self.scales, self.degrees = [float(s) for s in scales], [float(d) for d in degrees]
        self.shift, self.fill, self.border = float(shift), float(fill), border

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        scale = torch.tensor([choice(g, self.scales) for g in generators])
        angle = torch.tensor([choice(g, self.degrees) for g in generators])
        # the draw is the view's offset; the picture moves the other way
        shift = torch.tensor([[-uniform(g, -self.shift, self.shift) for _ in range(2)] for g in generators]).view(-1, 2)
        # Only the images that move are resampled (a warp by the identity is not exactly the identity): whether an
        # image is resampled depends on its own draw alone, never on the other images of the batch.
        moving = ((scale != 1) | (angle != 0) | (shift != 0).any(1)).nonzero().flatten()
        if moving.numel() == 0:
            return images
        if moving.numel() == images.shape[0]:
            return warp(images, affine_matrices(shift, angle, scale), border=self.border, fill=self.fill)
        rows = moving.to(images.device)
        # index_select, not images[rows]: its backward adds rows back, a gather's sorts every index (deterministic)
        moved = warp(images.index_select(0, rows), affine_matrices(shift[moving], angle[moving], scale[moving]),
                     border=self.border, fill=self.fill)
        return images.index_copy(0, rows, moved)


class RandomScale(RandomAffine):
    """Random zoom per image, chosen from ``scales`` (Lucid: 0.90, 0.92, ..., 1.10); same output size."""

    def __init__(self, scales: Sequence[float] = tuple(1 + (i - 5) / 50 for i in range(11)), fill: float = 0.5,
                 border: str = "constant") -> None:
        super().__init__(scales=scales, fill=fill, border=border)


class RandomRotate(RandomAffine):
    """Random rotation per image, chosen from ``degrees`` (Lucid: -10..10, with extra weight on 0)."""

    def __init__(self, degrees: Sequence[float] = tuple(range(-10, 11)) + (0,) * 5, fill: float = 0.5,
                 border: str = "constant") -> None:
        super().__init__(degrees=degrees, fill=fill, border=border)
