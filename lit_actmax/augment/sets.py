"""Transform sets: the per-step augmentations of the named methods (:mod:`lit_actmax.recipes`), built from the
transforms of this package. :func:`natural_transforms` is the library's default.
"""

from __future__ import annotations

from typing import Sequence

from .base import Compose, Transform
from .crops import MultiCrop, RandomCrop
from .geometry import Jitter, Pad, RandomRotate, RandomScale
from .photometric import ColorJitter, Noise

__all__ = [
    "lucid_transforms",
    "mirrored_lucid_transforms",
    "natural_transforms",
    "lucid_multicrop_transforms",
    "maco_transforms",
    "vit_transforms",
]


def _lucid_geometry() -> list[Transform]:
    """Lucid's transforms up to the final jitter: pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees."""
    return [Pad(12), Jitter(8), RandomScale(), RandomRotate()]


def lucid_transforms() -> Compose:
    """Lucid's standard transforms: pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees, jitter 4."""
    return Compose([*_lucid_geometry(), Jitter(4)])


def _mirrored_lucid_geometry() -> list[Transform]:
    """:func:`_lucid_geometry` with the mirror image instead of grey: pad 12 (reflect), jitter 8, scale 0.9-1.1 and
    rotate -10..10 degrees (symmetric border)."""
    return [Pad(12, mode="reflect"), Jitter(8), RandomScale(border="symmetric"), RandomRotate(border="symmetric")]


def mirrored_lucid_transforms() -> Compose:
    """Lucid's transforms with the mirror image instead of grey fill: pad 12 (reflect), jitter 8, scale 0.9-1.1 and
    rotate +-10 (symmetric border), jitter 4."""
    return Compose([*_mirrored_lucid_geometry(), Jitter(4)])


def natural_transforms(start: float = 0.8, end: float = 0.4) -> Compose:
    """The default: Lucid's geometry with the border treated like the centre, then one native-resolution window.

    Pad 12 and zoom 0.9-1.1 / rotate -10..10 degrees mirror the image instead of adding grey (``mode="reflect"``,
    ``border="symmetric"``), jitter 8, then a :class:`RandomCrop` window shrinking from ``start`` to ``end`` of the
    side that may overhang the edge into the mirror image. One view per step; 0.8 -> 0.4 took 0.67 of the time of
    1.0 -> 0.6 per step at 224 px with the same recognition and smoothness on 8 classes (docs/compare_candidates.md).
    With ``Fourier(decay_power=1.5)`` and Adam 0.02 it gives the class images of
    ``docs/compare.md``: photograph-like spectra, no faded frame, recognized by an independent model.
    """
    return Compose([*_mirrored_lucid_geometry(), RandomCrop(start, end, overhang=True)])


def lucid_multicrop_transforms(
    crops: int = 2, start: Sequence[float] = (0.8, 1.0), end: Sequence[float] = (0.6, 0.9), noise: float = 0.02,
) -> Compose:
    """Lucid's pad 12 / jitter 8 / scale / rotate, then ``crops`` boxes per image (large, shrinking; resized back
    to the image side) instead of the final jitter, and light Gaussian + uniform noise. In ``docs/quality.md``
    two crops per step make class images that an independent model recognizes far more often, with any
    parameterization."""
    return Compose([*_lucid_geometry(), MultiCrop(crops, None, start, end), Noise(noise, noise)])


def maco_transforms(
    crops: int = 8, size: int | None = None, start: Sequence[float] = (0.5, 1.0), end: Sequence[float] = (0.2, 0.5),
    schedule: str = "linear", noise: float = 0.05,
) -> Compose:
    """MACO's augmentation: :class:`MultiCrop` (large to small boxes) then Gaussian + uniform :class:`Noise`."""
    return Compose([MultiCrop(crops, size, start, end, schedule), Noise(noise, noise)])


def vit_transforms() -> Compose:
    """Ghiasi et al. (2022)'s augmentation for vision transformers (``configs/presets/vit.yaml``): 8 copies of each
    image per step as :class:`MultiCrop` boxes of 80-100% of the side at a random place, then per copy a colour jitter
    (contrast ``exp(+-1)``, shift +-0.25) and Gaussian + uniform noise 0.05."""
    return Compose([MultiCrop(8, None, (0.8, 1.0), (0.8, 1.0), "constant"), ColorJitter(shift=0.25, scale=1.0),
                    Noise(0.05, 0.05)])
