"""Helpers of the transform tests."""

import pytest
import torch

from lit_actmax.core.seeding import STREAM_AUGMENT, unit_generators


@pytest.fixture
def gens():
    """``gens(units, step=0)``: the augmentation generators of ``units`` (variant 0) at ``step``, one per image."""

    def make(units, step: int = 0) -> list[torch.Generator]:
        return unit_generators(0, list(units), [0] * len(units), STREAM_AUGMENT, step)

    return make
