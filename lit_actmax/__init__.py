"""lit_actmax: feature visualization by activation maximization, as a PyTorch Lightning module."""

from .accentuate import ImageDistance
from .augment import Compose, Jitter, Pad, RandomAffine, RandomRotate, RandomScale, lucid_transforms
from .augment import MultiCrop, Noise, maco_transforms
from .models import Backbone, BackboneError, load_backbone, register_backbone
from .module import ActMaxModule, ConfigError, FinishedUnits
from .objectives import ClassLogit, Channel, Direction, Diversity, Layer, Neuron, Objective, RenderBatch
from .params import Fourier, ImageParam, Maco, Pixel
from .probe import LayerProbe, ProbeError, list_layers
from .regularizers import L1, L2, TotalVariation
from .strategy import UnitParallelStrategy  # registers strategy="unit_parallel" with Lightning
from .units import parse_units

__version__ = "0.1.0"

__all__ = [
    "ActMaxModule", "FinishedUnits", "ConfigError",
    "Backbone", "BackboneError", "load_backbone", "register_backbone",
    "LayerProbe", "ProbeError", "list_layers",
    "Objective", "RenderBatch", "ClassLogit", "Channel", "Neuron", "Layer", "Direction", "Diversity",
    "TotalVariation", "L1", "L2",
    "ImageParam", "Pixel", "Fourier", "Maco",
    "MultiCrop", "Noise", "maco_transforms", "ImageDistance",
    "Compose", "Pad", "Jitter", "RandomScale", "RandomRotate", "RandomAffine", "lucid_transforms",
    "parse_units",
    "UnitParallelStrategy",
]
