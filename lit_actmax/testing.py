"""Tiny backbones for tests and examples: built from a fixed seed, so every process builds the same weights.

Use them through the generic spec form, e.g. ``"lit_actmax.testing:tiny_convnet"``. Plain PyTorch; the Lightning
classifier built on :class:`TinyConvNet` is in :mod:`lit_actmax.lightning.testing`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .backbones.backbone import Backbone
from .backbones.preprocessing import Normalize

__all__ = ["seeded", "TinyConvNet", "tiny_convnet", "tiny_backbone", "shared_relu_net"]


def seeded(build: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """``build()`` with torch's CPU random state set to ``seed`` (and restored afterwards): the same weights in
    every process."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


class TinyConvNet(nn.Module):
    """features: conv(3->8) ReLU(inplace) conv(8->16, stride 2) ReLU(inplace) conv(16->16); classifier -> 10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


def tiny_convnet(num_classes: int = 10, seed: int = 0) -> nn.Module:
    """A 3-conv network with random (seeded) weights; ~3k parameters."""
    return seeded(lambda: TinyConvNet(num_classes), seed)


def tiny_backbone(seed: int = 0) -> Backbone:
    """:func:`tiny_convnet` as a full ``Backbone`` with its own preprocessing and a small input size."""
    return Backbone(model=tiny_convnet(seed=seed), preprocess=Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
                    spec="lit_actmax.testing:tiny_backbone", input_size=32, min_size=8,
                    class_names=[f"class_{i}" for i in range(10)])


class SharedReLUNet(nn.Module):
    """Uses one ReLU module at two places of its graph (as EfficientNet's ``_swish`` does)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv2(self.act(self.conv1(x))))
        return self.head(x.mean((2, 3)))


def shared_relu_net(seed: int = 0) -> nn.Module:
    return seeded(SharedReLUNet, seed)
