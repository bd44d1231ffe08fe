"""lit_actmax: feature visualization by activation maximization, as a PyTorch Lightning module."""

from .augment import Compose, Jitter, Pad, RandomAffine, RandomRotate, RandomScale, lucid_transforms
from .models import Backbone, BackboneError, load_backbone, register_backbone
from .module import ActMaxModule, ConfigError, FinishedUnits
from .objectives import ClassLogit, Channel, Direction, Diversity, Layer, Neuron, Objective, RenderBatch
from .params import Fourier, ImageParam, Pixel
from .probe import LayerProbe, ProbeError, list_layers
from .regularizers import L1, L2, TotalVariation
from .units import parse_units

__version__ = "0.1.0"

__all__ = [
    "ActMaxModule", "FinishedUnits", "ConfigError",
    "Backbone", "BackboneError", "load_backbone", "register_backbone",
    "LayerProbe", "ProbeError", "list_layers",
    "Objective", "RenderBatch", "ClassLogit", "Channel", "Neuron", "Layer", "Direction", "Diversity",
    "TotalVariation", "L1", "L2",
    "ImageParam", "Pixel", "Fourier",
    "Compose", "Pad", "Jitter", "RandomScale", "RandomRotate", "RandomAffine", "lucid_transforms",
    "parse_units",
]
