"""Diversity: a batch-level regularizer that pushes the variants of one unit apart (Lucid's ``diversity``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Objective, RenderBatch

__all__ = ["Diversity"]


class Diversity(Objective):
    """Batch-level diversity among the variants of each unit (Lucid's ``diversity``).

    For image ``b``: minus the mean cosine similarity between its Gram matrix at ``layer`` and those of the
    other images of the batch that target the same unit. Zero for a unit rendered once. Maximize it.
    """

    is_regularizer = True

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = layer

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = self.layout_of(batch.acts[self.layer]).channels_first(batch.acts[self.layer])  # (B, C, P)
        gram = torch.bmm(acts, acts.transpose(1, 2)).flatten(1) / acts.shape[-1]
        gram = F.normalize(gram, dim=1)
        similarity = gram @ gram.T  # (B, B)
        same = batch.units.view(-1, 1) == batch.units.view(1, -1)
        if batch.variants is not None:  # several views (crops) of one image share its variant: not compared
            same &= batch.variants.view(-1, 1) != batch.variants.view(1, -1)
        same.fill_diagonal_(False)
        count = same.sum(1)
        mean_similarity = (similarity * same).sum(1) / count.clamp(min=1)
        return torch.where(count > 0, -mean_similarity, torch.zeros_like(mean_similarity))
