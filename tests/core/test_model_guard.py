"""ModelGuard: a block may freeze, run and draw; the model, its gradients and the random streams come back."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from lit_actmax.backbones.backbone import freeze
from lit_actmax.core.model_guard import ModelGuard


def training_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Conv2d(4, 2, 1)).train()
    model[0].weight.requires_grad_(False)  # a partly frozen model (fine-tuning)
    model[3].eval()
    model(torch.rand(2, 3, 8, 8)).sum().backward()
    return model


def snapshot(model: nn.Module) -> tuple:
    return ([p.requires_grad for p in model.parameters()], [m.training for m in model.modules()],
            [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            {k: v.clone() for k, v in model.state_dict().items()})


@pytest.mark.parametrize("fail", [False, True])
def test_everything_comes_back_also_after_a_failure(fail):
    model = training_model()
    before = snapshot(model)
    grads = [p.grad for p in model.parameters()]
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    expected = (torch.rand(2), np.random.rand(2), random.random())
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    with pytest.raises(RuntimeError) if fail else torch.no_grad():
        with ModelGuard(model):
            freeze(model)
            torch.rand(7), np.random.rand(7), random.random()  # the block draws from every stream
            model[3].weight.grad = torch.ones_like(model[3].weight)  # and replaces a gradient
            model(torch.rand(2, 3, 8, 8))
            if fail:
                raise RuntimeError("the render failed")
    requires_grad, training, grad_values, state = snapshot(model)
    assert (requires_grad, training) == before[:2]
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))  # the same tensors, unchanged
    assert all(a is None and b is None or torch.equal(a, b) for a, b in zip(grad_values, before[2]))
    assert all(torch.equal(state[k], before[3][k]) for k in state)  # eval mode: BatchNorm statistics kept
    assert torch.equal(torch.rand(2), expected[0]) and np.array_equal(np.random.rand(2), expected[1])
    assert random.random() == expected[2]


def test_gradients_on_and_autocast_off_inside_whatever_the_caller_runs_under():
    model = training_model()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        with ModelGuard(model):
            assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
            assert not torch.is_autocast_enabled("cpu")
            x = torch.rand(1, 3, 8, 8, requires_grad=True)
            assert model(x).dtype == torch.float32
        assert torch.is_inference_mode_enabled() and torch.is_autocast_enabled("cpu")
