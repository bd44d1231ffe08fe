"""objectives/per_layer.py: one objective per target; a run of one objective is the one-target case."""

import pytest
import torch

from lit_actmax.errors import ConfigError
from lit_actmax.objectives import Channel, ClassLogit, Neuron, RenderBatch, TotalVariation
from lit_actmax.objectives.per_layer import PerLayer, objective_for


def test_objective_kinds():
    assert isinstance(objective_for("auto", "output"), ClassLogit)
    assert isinstance(objective_for("auto", "features.2"), Channel)
    assert isinstance(objective_for("neuron", "features.2"), Neuron)
    with pytest.raises(ConfigError, match="objective_kind must be one of auto, channel, neuron, class"):
        objective_for("channels", "features.2")


# -- the objective -----------------------------------------------------------------------------------------
def test_each_image_is_scored_by_its_own_layer():
    objective = PerLayer([Channel("features.2"), ClassLogit()])
    acts = {"features.2": torch.randn(3, 16, 4, 4), "output": torch.randn(3, 10)}
    batch = RenderBatch(acts=acts, units=torch.tensor([5, 7, 1]), targets=torch.tensor([0, 1, 0]))
    expected = torch.stack([acts["features.2"][0, 5].mean(), acts["output"][1, 7], acts["features.2"][2, 1].mean()])
    torch.testing.assert_close(objective(batch), expected)
    torch.testing.assert_close(objective.activation(batch), expected)
    assert objective.layers_for([0]) == ("features.2",) and objective.layers_for([0, 1]) == ("features.2", "output")


def test_one_objective_is_the_one_target_case():
    objective = Channel("features.2") - 0.1 * TotalVariation()
    wrapped = PerLayer.of(objective)
    assert not wrapped.across_layers and list(wrapped.targets) == [objective]
    assert PerLayer.of(wrapped) is wrapped
    assert wrapped.describe() == objective.describe() == "Channel(features.2) - 0.1*TotalVariation(1)"
    image = torch.rand(2, 3, 8, 8)
    batch = RenderBatch(acts={"features.2": torch.randn(2, 16, 4, 4)}, units=torch.tensor([3, 5]), image=image)
    assert torch.equal(wrapped(batch), objective(batch))  # no targets needed, the same numbers
    assert torch.equal(wrapped.activation(batch), objective.activation(batch))
    assert [t for _, t in wrapped.terms()] == [t for _, t in objective.terms()]  # leaves reach the renderer's binding


def test_several_targets_need_each_image_s_target():
    objective = PerLayer([Channel("features.2"), ClassLogit()])
    assert objective.across_layers and objective.describe() == "PerLayer(Channel(features.2), ClassLogit(output))"
    batch = RenderBatch(acts={"features.2": torch.randn(1, 16, 4, 4), "output": torch.randn(1, 10)}, units=torch.tensor([1]))
    with pytest.raises(ConfigError, match="needs targets"):
        objective(batch)
