"""Helpers of the objective tests."""

import pytest
import torch

from lit_actmax.objectives import RenderBatch


@pytest.fixture
def batch():
    """``batch(acts, units, image=None)``: a :class:`RenderBatch` of ``{layer: (B, ...)}`` activations, unit ids
    ``units`` and optionally the images (B, 3, H, W)."""

    def make(acts: dict[str, torch.Tensor], units: list[int], image: torch.Tensor | None = None) -> RenderBatch:
        return RenderBatch(acts=acts, units=torch.tensor(units), image=image)

    return make
