"""Regularizers: penalties on the image, zero on a flat image, means over pixels."""

import torch

from lit_actmax.objectives import L1, L2, TotalVariation


def test_regularizers_penalize_what_they_name(batch):
    flat = torch.full((1, 3, 8, 8), 0.5)
    noisy = flat + 0.3 * torch.randn(1, 3, 8, 8).sign()
    for reg in (TotalVariation(), L1(), L2()):
        assert reg(batch({}, [0], flat)) == 0
        assert reg(batch({}, [0], noisy)) > 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0  # vertical stripes: every horizontal neighbour differs by 1
    assert torch.allclose(TotalVariation().penalty(stripes), torch.tensor([1.0]))
    assert torch.allclose(TotalVariation(weight=3)(batch({}, [0], stripes)), torch.tensor([3.0]))
