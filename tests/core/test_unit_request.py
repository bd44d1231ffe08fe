"""core/unit_request.py: the units a run asks for, checked before a model loads and resolved against it."""

import pytest
import torch

from lit_actmax import Channel, ClassLogit, Compose, Pixel
from lit_actmax.backbones import ModelState
from lit_actmax.core.unit_request import UnitRequest
from lit_actmax.errors import ConfigError, UnitSpecError
from lit_actmax.objectives.per_layer import PerLayer
from lit_actmax.testing import tiny_backbone

COUNTS = dict(batch_size=4, variants=1, epochs=2, steps_per_epoch=3)
OPTIONS = dict(size=32, param=Pixel(), transforms=Compose([]))


@pytest.mark.parametrize("units, objective, kind, error, sentence", [
    ({"features.2": "0-3"}, Channel("features.2"), "auto", ConfigError, "comes from objective_kind"),
    ("0-3", None, "channel", ConfigError, "applies to units per layer only"),
    ({"features.2": "0-3"}, None, "channels", ConfigError, "objective_kind must be one of auto, channel"),
    ("3-1", None, "auto", UnitSpecError, ""),
])
def test_a_bad_request_is_refused_before_any_model_loads(units, objective, kind, error, sentence):
    with pytest.raises(error, match=sentence):
        UnitRequest.check(units, objective, kind, **COUNTS)


def test_bad_counts_are_refused_before_any_model_loads():
    with pytest.raises(ConfigError):
        UnitRequest.check("0-3", None, "auto", **{**COUNTS, "batch_size": 0})


def test_ids_of_one_objective_plan_one_target():
    request = UnitRequest.check("0-5", Channel("features.2"), "auto", **COUNTS)
    assert not request.across_layers and request.schedule.units == (0, 1, 2, 3, 4, 5)
    renderer, schedule = request.plan(tiny_backbone(), **OPTIONS)
    assert schedule == request.schedule and schedule.steps_per_unit == 6 and renderer.steps == 6
    assert renderer.num_targets == 1 and not renderer.across_layers
    assert renderer.objective.describe() == "Channel(features.2)"


def test_a_selection_per_layer_resolves_all_in_model_order():
    request = UnitRequest.check({"output": "1,4", "features.2": "all"}, None, "auto", **COUNTS)
    renderer, schedule = request.plan(tiny_backbone(), **OPTIONS)
    assert isinstance(renderer.objective, PerLayer) and renderer.across_layers
    assert [renderer.target_layer(t) for t in range(renderer.num_targets)] == ["features.2", "output"]
    channels = renderer.unit_count(0)
    assert channels and schedule.keys == tuple([(0, u) for u in range(channels)] + [(1, 1), (1, 4)])
    assert isinstance(renderer.objective.targets[1], ClassLogit)


def test_the_user_s_model_comes_back_as_it_came_also_when_a_check_fails():
    backbone = tiny_backbone()
    backbone.model.train()
    first = next(backbone.model.parameters())
    first.requires_grad_(True)
    backbone.user_state = ModelState.capture(backbone.model)
    with pytest.raises(ConfigError, match="out of range"):
        UnitRequest.check("0-999", Channel("features.2"), "auto", **COUNTS).plan(backbone, **OPTIONS)
    assert backbone.model.training and first.requires_grad
    assert all(isinstance(p, torch.nn.Parameter) for p in backbone.model.parameters())
