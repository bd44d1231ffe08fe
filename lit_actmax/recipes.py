"""Named methods, each defined once: an image parameterization, per-step transforms and an optimizer with its learning
rate.

A :class:`Recipe` is what a user picks by name (:func:`get_recipe`), what ``scripts/quality.py``,
``scripts/compare.py`` and ``scripts/channel_quality.py`` render and judge, and what a config spells out:
:data:`DEFAULT_RECIPE` is what :class:`~lit_actmax.core.renderer.Renderer` and ``ActMaxModule`` use for units of the
model's output when given no param, transforms or optimizer (and ``configs/quickstart.yaml``),
:data:`INNER_LAYER_RECIPE` what they use when the objective reads an inner layer (channels, neurons; and
``configs/atlas/lite0.yaml``: :mod:`lit_actmax.core.default_transforms`); ``"vit"`` is ``configs/presets/vit.yaml``
(``tests/test_recipes.py`` checks all three)::

    recipe = get_recipe("maco")
    renderer = Renderer(backbone, ClassLogit(), param=recipe.param(), transforms=recipe.transforms())
    ...
    images, _ = renderer.optimize(steps, recipe.optimizer_factory())

The objective, the regularizers, the size and the number of steps are not part of a recipe.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch

from .augment import (
    Compose,
    MultiCrop,
    Pad,
    RandomCrop,
    Transform,
    lucid_multicrop_transforms,
    lucid_transforms,
    mirrored_lucid_transforms,
    natural_transforms,
    vit_transforms,
)
from .core.optim import DEFAULT_LR, OptimizerFactory
from .errors import ConfigError
from .params import Fourier, ImageParam, Maco, Pixel, default_param

__all__ = ["Recipe", "RECIPES", "DEFAULT_RECIPE", "INNER_LAYER_RECIPE", "get_recipe"]


@dataclass(frozen=True)
class Recipe:
    """A named method: ``param()`` makes a fresh image parameterization, ``transforms()`` fresh per-step transforms
    (``(B, 3, H, W) -> (V * B, 3, h, w)`` views), and ``optimizer`` steps its parameters at learning rate ``lr``.
    ``note`` says what it is in a few words."""

    name: str
    param: Callable[[], ImageParam]
    transforms: Callable[[], Transform]
    lr: float
    optimizer: type[torch.optim.Optimizer] = torch.optim.Adam
    note: str = ""

    def optimizer_factory(self) -> OptimizerFactory:
        """``params -> optimizer`` at this recipe's learning rate (what ``ActMaxModule(optimizer=...)`` takes)."""
        return functools.partial(self.optimizer, lr=self.lr)

    @property
    def views_per_step(self) -> int:
        """How many views of each image the model sees per step: the product of the :class:`MultiCrop` crops (1
        without); a step costs about that many forward passes."""
        return math.prod(t.crops for t in self.transforms().modules() if isinstance(t, MultiCrop))


def _reflect_padded_multicrop() -> Compose:
    """:func:`lucid_multicrop_transforms` with the first pad reflecting the image instead of adding grey."""
    lucid = lucid_multicrop_transforms()
    return Compose([Pad(12, mode="reflect"), *lucid.transforms[1:]])


def _natural_without_pad() -> Compose:
    """:func:`natural_transforms` without its mirrored pad 12 and jitter 8."""
    return Compose(natural_transforms().transforms[2:])


def _natural_inside() -> Compose:
    """:func:`natural_transforms` with windows inside the image (no overhang into the mirror image)."""
    return Compose([*natural_transforms().transforms[:-1], RandomCrop(0.8, 0.4)])


#: Issue 17's candidates keep the image they were judged with, whatever the default becomes.
_fourier_decay_15 = functools.partial(Fourier, decay_power=1.5)
_CROPS = "+ 2 crops/step (boxes 0.8-1.0 -> 0.6-0.9) + noise 0.02"

#: The library's default (issue 17): what the renderer uses when given no param, transforms or optimizer.
DEFAULT_RECIPE = Recipe(
    "natural", default_param, natural_transforms, DEFAULT_LR,
    note="Fourier(decay_power=1.5), natural_transforms(): mirrored pad 12, jitter 8, mirrored scale/rotate, one "
    "native-resolution window 0.8 -> 0.4 of the side overhanging into the mirror image",
)

#: The library's default for channels, neurons and directions of inner layers (issue 28): the default's image and
#: optimizer with full-size mirrored views instead of a window (``docs/channel_quality.md``). The same method as the
#: candidate ``fourier+mirror+decay1.5+lr0.02``, which keeps its name in the tables that judged it.
INNER_LAYER_RECIPE = Recipe(
    "channels", default_param, mirrored_lucid_transforms, DEFAULT_LR,
    note="Fourier(decay_power=1.5), mirrored_lucid_transforms(): mirrored pad 12, jitter 8, mirrored scale/rotate, "
    "jitter 4 (full-size views); Adam 0.02",
)

#: Every named method: the defaults, the parameterizations of ``docs/quality.md`` (each also with two crops per step),
#: the candidates issue 17's default was chosen from, and the vision transformer preset's method.
RECIPES: tuple[Recipe, ...] = (
    DEFAULT_RECIPE,
    INNER_LAYER_RECIPE,
    Recipe("pixel", Pixel, lucid_transforms, 0.05, note="sigmoid pixels, Adam 0.05"),
    Recipe("pixel+crops", Pixel, lucid_multicrop_transforms, 0.05, note=f"pixel {_CROPS}"),
    Recipe("fourier", Fourier, lucid_transforms, 0.05, note="Lucid decorrelated Fourier, Adam 0.05"),
    Recipe("fourier+crops", Fourier, lucid_multicrop_transforms, 0.05,
           note=f"fourier {_CROPS} (the default until issue 17)"),
    Recipe("maco", Maco, lucid_transforms, 1.0, torch.optim.NAdam,
           note="phase only, shipped spectrum, NAdam 1.0 (the authors' optimizer)"),
    Recipe("maco+crops", Maco, lucid_multicrop_transforms, 1.0, torch.optim.NAdam, note=f"maco {_CROPS}"),
    Recipe("fourier+crops+reflectpad", Fourier, _reflect_padded_multicrop, 0.05,
           note="fourier+crops with Pad(12, mode='reflect'): the frame sees image, not grey fill (candidate for issue "
           "17's faded frame)"),
    Recipe("fourier+crops+lowlr", Fourier, lucid_multicrop_transforms, 0.01,
           note="fourier+crops at Adam 0.01 (torch-dreams' small steps: fewer high frequencies?)"),
    Recipe("fourier+crops+wide", Fourier, functools.partial(lucid_multicrop_transforms, start=(0.9, 1.0),
                                                            end=(0.8, 1.0)), 0.05,
           note="fourier+crops with boxes 0.9-1.0 -> 0.8-1.0: the frame stays in most views"),
    Recipe("fourier+mirror", Fourier, mirrored_lucid_transforms, 0.05,
           note="fourier with Lucid's geometry mirrored at the border (pad reflect, affine symmetric)"),
    Recipe("fourier+mirror+decay1.5", _fourier_decay_15, mirrored_lucid_transforms, 0.05,
           note="fourier+mirror with spectrum scale 1/f^1.5 (fewer high frequencies)"),
    Recipe("fourier+mirror+decay2", functools.partial(Fourier, decay_power=2.0), mirrored_lucid_transforms, 0.05,
           note="fourier+mirror with spectrum scale 1/f^2"),
    Recipe("fourier+mirror+decay1.5+lr0.02", _fourier_decay_15, mirrored_lucid_transforms, 0.02,
           note="fourier+mirror+decay1.5 at Adam 0.02"),
    Recipe("natural+lr0.05", _fourier_decay_15, natural_transforms, 0.05, note="natural at Adam 0.05"),
    Recipe("natural-pad", _fourier_decay_15, _natural_without_pad, 0.02,
           note="natural without the mirrored pad 12 and jitter 8"),
    Recipe("natural-overhang", _fourier_decay_15, _natural_inside, 0.02,
           note="natural with windows inside the image (no overhang)"),
    Recipe("natural+wide", _fourier_decay_15, functools.partial(natural_transforms, 1.0, 0.6), 0.02,
           note="natural with windows 1.0 -> 0.6 of the side"),
    Recipe("natural+small", _fourier_decay_15, functools.partial(natural_transforms, 0.7, 0.5), 0.02,
           note="natural with windows 0.7 -> 0.5 of the side"),
    # Issue 28's candidates for channels of every depth at atlas sizes (scripts/channel_quality.py): Lucid's spectrum
    # scale reached more channel activation than the default's in a first look; with the natural transforms?
    Recipe("natural+decay1", Fourier, natural_transforms, 0.02,
           note="natural with Lucid's spectrum scale 1/f (more high frequencies than 1/f^1.5)"),
    Recipe("natural+decay1.25+lr0.03", functools.partial(Fourier, decay_power=1.25), natural_transforms, 0.03,
           note="natural with spectrum scale 1/f^1.25 at Adam 0.03: between the default and Lucid's"),
    Recipe("vit", Pixel, vit_transforms, 0.1,
           note="Ghiasi et al. 2022 for vision transformers (configs/presets/vit.yaml, which adds squared total "
           "variation and targets a block's MLP): sigmoid pixels, 8 crops/step of 0.8-1.0 of the side, each with "
           "its own colour jitter and noise 0.05, Adam 0.1"),
)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a :class:`~lit_actmax.errors.ConfigError` listing the names if there is none."""
    for recipe in RECIPES:
        if recipe.name == name:
            return recipe
    raise ConfigError(f"There is no recipe {name!r}; choose one of {', '.join(r.name for r in RECIPES)}.")
