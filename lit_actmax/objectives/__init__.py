"""Objectives: what to maximize. Each scores every image of a batch for its own unit and returns ``(B,)``.

One batch can hold many different units: image ``b`` targets unit ``batch.units[b]`` unless the objective was
built with a fixed ``unit``. Objectives compose like the math they stand for::

    Channel("features.8", 3) - 0.05 * TotalVariation()
    ClassLogit() + 0.5 * Diversity("_blocks.10")

Activations come in the layouts of :mod:`lit_actmax.backbones.layouts`: ``"BCHW"`` (convolutions), ``"BHWC"`` (channels
last: ConvNeXt blocks, Swin), ``"BC"`` (linear layers) and ``"BNC"`` tokens (special tokens first, then a patch
grid). :meth:`Renderer.validate` gives every term the probe's :class:`~lit_actmax.backbones.layouts.LayerLayout` per layer
(:meth:`Objective.use_layouts`); ``layout=`` states it where the probe cannot tell (and wins over it). A term used
by hand on activations no probe has seen reads them by rank: ``(B, C, H, W)``, ``(B, N, C)`` (no special token),
``(B, C)``. Terms marked ``is_regularizer`` (total variation, diversity, ...) are part of the
loss but not of the reported *activation*.

The package, one concept a file: :mod:`.base` (the contract and the algebra), :mod:`.activation` (a class, a
channel, a neuron, a layer), :mod:`.direction`, :mod:`.diversity`, :mod:`.selections` (a position, a set of
units), :mod:`.regularizers` and :mod:`.image_distance` (penalties on the image), :mod:`.per_layer` (one
objective per target layer).
"""

from .activation import TOKENS, Channel, ClassLogit, Layer, Neuron
from .base import Objective, RenderBatch, Sum, channels_first, merge_stated_layouts
from .direction import DIRECTION_FILE_TYPES, Direction, load_directions
from .diversity import Diversity
from .image_distance import ImageDistance
from .per_layer import OBJECTIVE_KINDS, PerLayer, check_objective_kind, objective_for
from .regularizers import L1, L2, Regularizer, TotalVariation
from .selections import Spatial, UnitSet

__all__ = [
    "RenderBatch",
    "Objective",
    "Sum",
    "channels_first",
    "merge_stated_layouts",
    "TOKENS",
    "ClassLogit",
    "Neuron",
    "Channel",
    "Layer",
    "DIRECTION_FILE_TYPES",
    "load_directions",
    "Direction",
    "Diversity",
    "Spatial",
    "UnitSet",
    "Regularizer",
    "TotalVariation",
    "L1",
    "L2",
    "ImageDistance",
    "PerLayer",
    "OBJECTIVE_KINDS",
    "objective_for",
    "check_objective_kind",
]
