"""RandomState: every global stream (torch, numpy, Python) comes back as captured."""

from __future__ import annotations

import random

import numpy as np
import torch

from lit_actmax.core.random_state import RandomState


def test_restore_gives_every_stream_back():
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    state = RandomState.capture()
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    state.restore()
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert [random.random() for _ in range(3)] == expected[2]


def test_capture_draws_nothing():
    torch.manual_seed(2)
    before = torch.get_rng_state()
    RandomState.capture()
    assert torch.equal(torch.get_rng_state(), before)
