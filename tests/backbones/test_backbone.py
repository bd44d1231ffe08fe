"""backbone.py: a Backbone is frozen and in eval mode; a user's model gets its state back."""

import pytest
import torch
from torch import nn

from lit_actmax.backbones.backbone import Backbone, ModelState, freeze
from lit_actmax.backbones.preprocessing import Normalize
from lit_actmax.errors import BackboneError


def test_batchnorm_statistics_never_change():
    backbone = Backbone(model=nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), preprocess=Normalize(), spec="bn")
    bn = backbone.model[1]
    before = bn.running_mean.clone()
    backbone.model(torch.randn(2, 3, 8, 8) * 5 + 3)
    assert torch.equal(bn.running_mean, before) and not bn.training
    assert all(not p.requires_grad for p in backbone.model.parameters())


def test_model_state_gives_a_frozen_model_back_as_it_was():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.Linear(2, 2))
    model[2].requires_grad_(False)
    model[1].eval()
    state = ModelState.capture(model)
    freeze(model)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    state.restore(model)
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, False]
    assert [m.training for m in model.modules()] == [True, True, False, True]


def test_from_module_keeps_the_users_state_only_when_asked():
    model = nn.Linear(3, 2)
    assert Backbone.from_module(model, "mine", users_own=True).user_state.requires_grad == (True, True)
    backbone = Backbone.from_module(nn.Linear(3, 2), "built.ckpt", users_own=False)
    assert backbone.user_state is None and isinstance(backbone.preprocess, Normalize) and backbone.spec == "built.ckpt"
    with pytest.raises(BackboneError, match="returned int; it must return an nn.Module"):
        Backbone.from_module(3, "pkg:three", users_own=True)


def test_model_input_resizes_to_the_fixed_size_then_preprocesses():
    backbone = Backbone(model=nn.Identity(), preprocess=Normalize([0.5] * 3, [0.25] * 3), spec="id", fixed_input_size=8)
    assert backbone.fixed_input_size == (8, 8) and backbone.input_hw == (8, 8)
    x = backbone.model_input(torch.full((2, 3, 20, 20), 0.75))
    assert x.shape == (2, 3, 8, 8) and torch.allclose(x, torch.ones_like(x))
    assert backbone.model_input(torch.rand(1, 3, 20, 20), size=(6, 10)).shape[-2:] == (6, 10)
    backbone.fixed_input_size = None
    assert backbone.model_input(torch.rand(1, 3, 20, 20)).shape[-2:] == (20, 20)
