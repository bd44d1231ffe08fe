"""Helpers of the backbone tests, handed out by fixtures."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def render_rises():
    """``render_rises(backbone, objective, size=48, steps=3) -> (before, after)``: a few plain Adam steps of the first
    unit at a non-native size; asserts the image has ``size`` and returns the objective before and after."""
    from lit_actmax import Renderer
    from lit_actmax.augment import Compose

    def run(backbone, objective, size=48, steps=3):
        renderer = Renderer(backbone, objective, transforms=Compose([]), size=size, steps=steps)
        renderer.validate([0])
        renderer.attach()
        renderer.start([(0, 0, True)])
        optimizer = torch.optim.Adam(renderer.param.parameters(), lr=0.05)
        before = renderer.final_images()[1]
        for step in range(steps):
            optimizer.zero_grad()
            renderer.loss(step).loss.backward()
            optimizer.step()
        images, after = renderer.final_images()
        renderer.detach()
        assert images.shape == (1, 3, size, size)
        return float(before[0]), float(after[0])

    return run
