"""Differentiable per-step augmentations, with randomness from one generator per image.

Each transform maps ``(B, 3, H, W)`` images in [0, 1] to transformed images on the same device, drawing its
random parameters for image ``b`` from ``generators[b]`` (CPU generators seeded per unit and step, see
:mod:`lit_actmax.core.seeding`), so an image's augmentation does not depend on the other images of its batch.

The package: :mod:`.base` (the contract, :class:`Compose`, seeded draws), :mod:`.geometry` (pad, jitter, zoom,
rotation), :mod:`.crops` (scheduled crops: MACO's boxes, native-resolution windows), :mod:`.photometric` (noise,
colour jitter) and :mod:`.sets` (the named methods' transform sets; :func:`natural_transforms` is the default).
"""

from .base import Compose, Transform, choice, per_row_generators, uniform
from .crops import SCHEDULES, MultiCrop, RandomCrop, Scheduled, check_schedule, schedule, set_progress
from .geometry import Jitter, Pad, RandomAffine, RandomRotate, RandomScale, random_crops
from .photometric import ColorJitter, Noise
from .sets import (
    lucid_multicrop_transforms,
    lucid_transforms,
    maco_transforms,
    mirrored_lucid_transforms,
    natural_transforms,
    vit_transforms,
)

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
    "mirrored_lucid_transforms",
    "natural_transforms",
    "vit_transforms",
    "SCHEDULES",
    "check_schedule",
    "schedule",
    "set_progress",
    "per_row_generators",
]
