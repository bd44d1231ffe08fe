"""A minimal LightningModule classifier, to test loading a user's Lightning checkpoint as a backbone."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..testing import TinyConvNet, seeded
from .package import pl

__all__ = ["TinyClassifier", "tiny_classifier_module"]


class TinyClassifier(pl.LightningModule):
    """``forward`` returns class logits (B, num_classes) for images (B, 3, H, W)."""

    def __init__(self, num_classes: int = 10, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = TinyConvNet(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def tiny_classifier_module(seed: int = 0) -> TinyClassifier:
    """A :class:`TinyClassifier` with seeded weights, as a user's trained classifier would be."""
    return seeded(TinyClassifier, seed)
