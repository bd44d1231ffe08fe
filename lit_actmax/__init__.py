"""lit_actmax: feature visualization by activation maximization, as a PyTorch Lightning module.

Names are loaded on first use: ``import lit_actmax.objectives`` (or any plain-torch module) loads neither Lightning
nor torchmetrics; ``lit_actmax.ActMaxModule`` loads Lightning (and registers ``strategy="unit_parallel"``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["ActMaxModule"], "module"),
    **dict.fromkeys(["Renderer", "StepOutput"], "renderer"),
    **dict.fromkeys(["UnitSchedule", "UnitImage"], "unit_schedule"),
    **dict.fromkeys(["FinishedUnits", "RunWriter", "UnitRecord", "RunSummary"], "rundir"),
    **dict.fromkeys(["ActMaxError", "ConfigError", "BackboneError", "ProbeError", "ShardError", "UnitSpecError"],
                    "errors"),
    **dict.fromkeys(["Backbone", "load_backbone", "register_backbone"], "models"),
    **dict.fromkeys(["LayerProbe", "list_layers"], "probe"),
    **dict.fromkeys(["Objective", "RenderBatch", "ClassLogit", "Channel", "Neuron", "Layer", "Direction", "Diversity"],
                    "objectives"),
    **dict.fromkeys(["TotalVariation", "L1", "L2"], "regularizers"),
    **dict.fromkeys(["ImageParam", "Pixel", "Fourier", "Maco"], "params"),
    **dict.fromkeys(["Compose", "Pad", "Jitter", "RandomScale", "RandomRotate", "RandomAffine", "MultiCrop", "Noise", "ColorJitter",
                     "lucid_transforms", "maco_transforms"], "augment"),
    **dict.fromkeys(["ImageDistance"], "accentuate"),
    **dict.fromkeys(["parse_units"], "units"),
    **dict.fromkeys(["UnitParallelStrategy"], "strategy"),
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
    from .accentuate import ImageDistance
    from .augment import (
        ColorJitter,
        Compose,
        Jitter,
        MultiCrop,
        Noise,
        Pad,
        RandomAffine,
        RandomRotate,
        RandomScale,
        lucid_transforms,
        maco_transforms,
    )
    from .errors import ActMaxError, BackboneError, ConfigError, ProbeError, ShardError, UnitSpecError
    from .models import Backbone, load_backbone, register_backbone
    from .module import ActMaxModule
    from .objectives import Channel, ClassLogit, Direction, Diversity, Layer, Neuron, Objective, RenderBatch
    from .params import Fourier, ImageParam, Maco, Pixel
    from .probe import LayerProbe, list_layers
    from .regularizers import L1, L2, TotalVariation
    from .renderer import Renderer, StepOutput
    from .rundir import FinishedUnits, RunSummary, RunWriter, UnitRecord
    from .strategy import UnitParallelStrategy
    from .unit_schedule import UnitImage, UnitSchedule
    from .units import parse_units
