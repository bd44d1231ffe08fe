"""registry.py: names are specs; lite0..lite4 are built in, register_backbone adds more."""

import torch
from torch import nn

from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.registry import register_backbone, registered_backbones, registered_factory


def test_the_built_in_names_and_a_registered_one():
    assert {f"lite{n}" for n in range(5)} <= set(registered_backbones())
    assert registered_factory("no_such_name") is None

    def build():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())

    register_backbone("test_registered_conv", build)
    assert registered_factory("test_registered_conv") is build and "test_registered_conv" in registered_backbones()
    backbone = load_backbone("test_registered_conv")
    assert backbone.spec == "test_registered_conv" and backbone.user_state is not None  # the user's model
    assert backbone.model(torch.rand(1, 3, 8, 8)).shape == (1, 4, 6, 6)
