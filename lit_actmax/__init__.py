"""lit_actmax: feature visualization by activation maximization, as a PyTorch Lightning module.

Names are loaded on first use: ``import lit_actmax.objectives`` (or any plain-torch module) loads neither Lightning
nor torchmetrics; ``lit_actmax.ActMaxModule`` loads Lightning (and registers ``strategy="unit_parallel"``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import moved

__version__ = "0.1.0"

moved.install()  # module paths of earlier releases (configs, checkpoints) keep importing: lit_actmax.moved

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["ActMaxModule"], "lightning.module"),
    **dict.fromkeys(["Renderer", "StepOutput"], "core.renderer"),
    **dict.fromkeys(["UnitSchedule", "UnitImage"], "core.schedule"),
    **dict.fromkeys(["FinishedUnits", "UnitRecord", "RunSummary"], "run.records"),
    **dict.fromkeys(["RunWriter"], "run.writer"),
    **dict.fromkeys(["ActMaxError", "ConfigError", "BackboneError", "ProbeError", "ShardError", "UnitSpecError"],
                    "errors"),
    **dict.fromkeys(["Backbone", "load_backbone", "register_backbone"], "backbones"),
    **dict.fromkeys(["LayerProbe", "list_layers"], "backbones.probe"),
    **dict.fromkeys(["Objective", "RenderBatch", "ClassLogit", "Channel", "Neuron", "Layer", "Direction", "Diversity",
                     "PerLayer", "TotalVariation", "L1", "L2", "ImageDistance"], "objectives"),
    **dict.fromkeys(["ImageParam", "Pixel", "Fourier", "Maco"], "params"),
    **dict.fromkeys(["Compose", "Pad", "Jitter", "RandomScale", "RandomRotate", "RandomAffine", "MultiCrop", "Noise", "ColorJitter",
                     "RandomCrop", "lucid_transforms", "maco_transforms", "natural_transforms"], "augment"),
    **dict.fromkeys(["Recipe", "get_recipe"], "recipes"),
    **dict.fromkeys(["parse_units"], "core.units"),
    **dict.fromkeys(["UnitRequest"], "core.unit_request"),
    **dict.fromkeys(["UnitParallelStrategy"], "lightning.strategy"),
    **dict.fromkeys(["RunImages", "run_images"], "notebook"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lit_actmax' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .augment import (
        ColorJitter,
        Compose,
        Jitter,
        MultiCrop,
        Noise,
        Pad,
        RandomAffine,
        RandomCrop,
        RandomRotate,
        RandomScale,
        lucid_transforms,
        maco_transforms,
        natural_transforms,
    )
    from .backbones import Backbone, load_backbone, register_backbone
    from .backbones.probe import LayerProbe, list_layers
    from .core.renderer import Renderer, StepOutput
    from .core.schedule import UnitImage, UnitSchedule
    from .core.unit_request import UnitRequest
    from .core.units import parse_units
    from .errors import ActMaxError, BackboneError, ConfigError, ProbeError, ShardError, UnitSpecError
    from .lightning.module import ActMaxModule
    from .lightning.strategy import UnitParallelStrategy
    from .notebook import RunImages, run_images
    from .objectives import (
        L1,
        L2,
        Channel,
        ClassLogit,
        Direction,
        Diversity,
        ImageDistance,
        Layer,
        Neuron,
        Objective,
        PerLayer,
        RenderBatch,
        TotalVariation,
    )
    from .params import Fourier, ImageParam, Maco, Pixel
    from .recipes import Recipe, get_recipe
    from .run.records import FinishedUnits, RunSummary, UnitRecord
    from .run.writer import RunWriter
