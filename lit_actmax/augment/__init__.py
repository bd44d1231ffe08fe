"""Differentiable per-step augmentations, with randomness from one generator per image.

Each transform maps ``(B, 3, H, W)`` images in [0, 1] to transformed images on the same device, drawing its
random parameters for image ``b`` from ``generators[b]`` (CPU generators seeded per unit and step, see
:mod:`lit_actmax.core.seeding`), so an image's augmentation does not depend on the other images of its batch.

The default :func:`lucid_transforms` is Lucid's standard set: pad 12, jitter 8, random scale 0.9-1.1, random
rotation -10..10 degrees, jitter 4.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..image.ops import WARP_BORDERS, affine_matrices, check_border, warp

__all__ = [
    "Transform",
    "Compose",
    "Pad",
    "Jitter",
    "RandomScale",
    "RandomRotate",
    "RandomAffine",
    "lucid_transforms",
    "uniform",
    "choice",
    "Scheduled",
    "MultiCrop",
    "RandomCrop",
    "random_crops",
    "Noise",
    "ColorJitter",
    "maco_transforms",
    "lucid_multicrop_transforms",
    "natural_transforms",
    "SCHEDULES",
    "check_schedule",
    "schedule",
    "set_progress",
    "per_row_generators",
]


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One draw in [low, high) from ``generator``."""
    return low + (high - low) * float(torch.rand((), generator=generator))


def choice(generator: torch.Generator, values: Sequence[float]) -> float:
    """One element of ``values``, uniformly, from ``generator``."""
    return float(values[int(torch.randint(len(values), (), generator=generator))])


class Transform(nn.Module):
    """Base class: ``forward(images, generators) -> images``."""

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        raise NotImplementedError


class Compose(Transform):
    """Apply transforms in order; each draws from the same per-image generators in turn."""

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        for transform in self.transforms:
            images = transform(images, generators)
            generators = per_row_generators(images, generators)  # after MultiCrop: one generator per crop
        return images

    def __len__(self) -> int:
        return len(self.transforms)


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


def random_crops(images: torch.Tensor, generators: Sequence[torch.Generator], height: int, width: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, height, width): image ``b``'s window at an offset drawn uniformly from
    ``generators[b]`` (rows first, then columns), pixels as they are (no resampling)."""
    b, _, h, w = images.shape
    oy = torch.tensor([int(torch.randint(h - height + 1, (), generator=g)) for g in generators])
    ox = torch.tensor([int(torch.randint(w - width + 1, (), generator=g)) for g in generators])
    rows = (oy.view(-1, 1) + torch.arange(height).view(1, -1)).to(images.device)  # (B, height)
    cols = (ox.view(-1, 1) + torch.arange(width).view(1, -1)).to(images.device)  # (B, width)
    batch = torch.arange(b, device=images.device).view(-1, 1, 1)
    out = images.permute(0, 2, 3, 1)[batch, rows.unsqueeze(-1), cols.unsqueeze(1)]  # (B, height, width, C)
    return out.permute(0, 3, 1, 2)


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
        moved = warp(images[rows], affine_matrices(shift[moving], angle[moving], scale[moving]), border=self.border,
                     fill=self.fill)
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


def _lucid_geometry() -> list[Transform]:
    """Lucid's transforms up to the final jitter: pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees."""
    return [Pad(12), Jitter(8), RandomScale(), RandomRotate()]


def lucid_transforms() -> Compose:
    """Lucid's standard transforms: pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees, jitter 4."""
    return Compose([*_lucid_geometry(), Jitter(4)])


def per_row_generators(images: torch.Tensor, generators: Sequence[torch.Generator]) -> list[torch.Generator]:
    """Generators for each row of ``images``: the same list, or, after a transform that made ``k`` views per
    image (e.g. :class:`MultiCrop`), ``k`` child generators per image, each seeded from its image's generator."""
    generators = list(generators)
    rows = images.shape[0]
    if rows == len(generators) or not generators:
        return generators
    if rows % len(generators):
        raise ConfigError(f"{rows} augmented images cannot be split among {len(generators)} source images.")
    k = rows // len(generators)
    children = []
    for g in generators:
        seeds = torch.randint(0, 2**62, (k,), generator=g)
        children.extend(torch.Generator().manual_seed(int(s)) for s in seeds)
    return children


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
        if self.overhang and side > 1:  # side <= the image side, so side // 2 is within what reflect padding takes
            images = F.pad(images, [side // 2] * 4, mode="reflect")
        return random_crops(images, generators, side, side)


class Noise(Transform):
    """Add Gaussian noise of standard deviation ``std`` and uniform noise in ``[-uniform / 2, uniform / 2]``.

    Each row's noise comes from its own generator (per crop after :class:`MultiCrop`). Values are not clamped.
    """

    def __init__(self, std: float = 0.05, uniform: float = 0.05) -> None:
        super().__init__()
        if std < 0 or uniform < 0:
            raise ConfigError(f"Noise std and uniform must be >= 0, got {std} and {uniform}.")
        self.std, self.uniform = float(std), float(uniform)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.std == 0 and self.uniform == 0:
            return images
        shape = images.shape[1:]
        noise = torch.stack([
            self.std * torch.randn(shape, generator=g) + self.uniform * (torch.rand(shape, generator=g) - 0.5)
            for g in per_row_generators(images, generators)
        ])
        return images + noise.to(images.device, images.dtype)


class ColorJitter(Transform):
    """Random colour per image: each channel's contrast about mid-grey scaled by ``exp(s)``, ``s`` uniform in
    ``[-scale, scale]``, and shifted by ``m``, uniform in ``[-shift, shift]``: ``(x - 0.5) * exp(s) + 0.5 + m``.

    Ghiasi et al. (2022) draw such a colour shift for every augmented copy of a ViT's image at every step, so the
    image cannot rely on one exact colour. Each row draws from its own generator (per crop after
    :class:`MultiCrop`). Values are not clamped.
    """

    def __init__(self, shift: float = 0.1, scale: float = 0.5) -> None:
        super().__init__()
        if shift < 0 or scale < 0:
            raise ConfigError(f"ColorJitter shift and scale must be >= 0, got {shift} and {scale}.")
        self.shift, self.scale = float(shift), float(scale)

    def forward(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        if self.shift == 0 and self.scale == 0:
            return images
        draws = torch.stack([torch.rand(2, images.shape[1], generator=g) for g in per_row_generators(images, generators)])
        draws = (2 * draws - 1).to(images.device, images.dtype)  # (B, 2, C) uniform in [-1, 1)
        gain = (self.scale * draws[:, 0]).exp()[..., None, None]
        offset = (self.shift * draws[:, 1])[..., None, None]
        return (images - 0.5) * gain + 0.5 + offset


def maco_transforms(
    crops: int = 8, size: int | None = None, start: Sequence[float] = (0.5, 1.0), end: Sequence[float] = (0.2, 0.5),
    schedule: str = "linear", noise: float = 0.05,
) -> Compose:
    """MACO's augmentation: :class:`MultiCrop` (large to small boxes) then Gaussian + uniform :class:`Noise`."""
    return Compose([MultiCrop(crops, size, start, end, schedule), Noise(noise, noise)])


def natural_transforms(start: float = 0.8, end: float = 0.4) -> Compose:
    """The default: Lucid's geometry with the border treated like the centre, then one native-resolution window.

    Pad 12 and zoom 0.9-1.1 / rotate -10..10 degrees mirror the image instead of adding grey (``mode="reflect"``,
    ``border="symmetric"``), jitter 8, then a :class:`RandomCrop` window shrinking from ``start`` to ``end`` of the
    side that may overhang the edge into the mirror image. One view per step; 0.8 -> 0.4 took 0.67 of the time of
    1.0 -> 0.6 per step at 224 px with the same recognition and smoothness on 8 classes (docs/compare_candidates.md).
    With ``Fourier(decay_power=1.5)`` and Adam 0.02 it gives the class images of
    ``docs/compare.md``: photograph-like spectra, no faded frame, recognized by an independent model.
    """
    return Compose([
        Pad(12, mode="reflect"), Jitter(8), RandomScale(border="symmetric"), RandomRotate(border="symmetric"),
        RandomCrop(start, end, overhang=True),
    ])


def lucid_multicrop_transforms(
    crops: int = 2, start: Sequence[float] = (0.8, 1.0), end: Sequence[float] = (0.6, 0.9), noise: float = 0.02,
) -> Compose:
    """Lucid's pad 12 / jitter 8 / scale / rotate, then ``crops`` boxes per image (large, shrinking; resized back
    to the image side) instead of the final jitter, and light Gaussian + uniform noise. In ``docs/quality.md``
    two crops per step make class images that an independent model recognizes far more often, with any
    parameterization."""
    return Compose([*_lucid_geometry(), MultiCrop(crops, None, start, end), Noise(noise, noise)])
