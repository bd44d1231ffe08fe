"""The per-step transforms a renderer uses when given none, chosen by what its objective reads (issue 28).

Two methods share the default image (``Fourier(decay_power=1.5)``) and optimizer (Adam 0.02) and differ in what the
model sees per step:

- units of the model's output (class logits, output directions): :func:`~lit_actmax.augment.natural_transforms`, one
  native-resolution window per step (``docs/compare.md``: recognized by an independent model, no faded frame, a
  sixth of the cost of resized crops);
- units of an inner layer (channels, neurons, directions): :func:`~lit_actmax.augment.mirrored_lucid_transforms`,
  full-size views of the mirrored image. On ``docs/channel_quality.md``'s channels a window per step shows a deep
  channel too little of its picture: on lite0 at 128 px it kept 0.41-0.79 of Lucid's held-out activation. The
  full-size mirrored views are level with Lucid's as rendered (0.93-1.08 on lite0 and lite2, 64-224 px) and keep
  0.84-1.02 of it on held-out views with a grey frame (1.01-1.17x with a mirrored one). Both keep photographs'
  high-frequency share and total variation (at 64 and 128 px), which Lucid's pictures exceed.

A run that reads both (an atlas of channels and classes) gets the inner layers' method.
"""

from __future__ import annotations

from ..augment import Compose, mirrored_lucid_transforms, natural_transforms
from ..backbones.probe import OUTPUT
from ..objectives import Objective

__all__ = ["reads_inner_layers", "default_transforms"]


def reads_inner_layers(objective: Objective) -> bool:
    """Whether ``objective`` reads a layer other than the model's output (``"output"``)."""
    return any(layer != OUTPUT for layer in objective.layers)


def default_transforms(objective: Objective) -> Compose:
    """Fresh default transforms for ``objective``: ``mirrored_lucid_transforms()`` if it reads an inner layer, else
    ``natural_transforms()``. ``(B, 3, H, W) -> (B, 3, h, w)`` views, one per image."""
    return mirrored_lucid_transforms() if reads_inner_layers(objective) else natural_transforms()
