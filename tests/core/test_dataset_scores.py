"""Scoring dataset images for units: the fast and the generic path agree with the objective, exact top-k merges, and
the objectives an index names."""

from __future__ import annotations

import pytest
import torch

from lit_actmax import Channel, ConfigError, Neuron
from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.probe import LayerProbe
from lit_actmax.core.dataset_scores import merge_topk, objective_from_text, unit_scores

TINY = "lit_actmax.testing:tiny_backbone"


def test_generic_objectives_score_like_the_objective_itself():
    backbone = load_backbone(TINY)
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        acts = LayerProbe(backbone.model, ["features.2"])(backbone.preprocess(images))
    units = torch.arange(16)
    neuron = unit_scores(Neuron("features.2"), acts, units, budget=1000)  # generic path, in small chunks
    assert torch.allclose(neuron, acts["features.2"][:, :, 8, 8])
    fast = unit_scores(Channel("features.2"), acts, units[[3, 1]])
    generic = unit_scores(1.0 * Channel("features.2"), acts, units[[3, 1]])  # a Sum: the repeat path
    assert torch.allclose(fast, generic, atol=1e-6) and torch.allclose(fast, acts["features.2"].mean((2, 3))[:, [3, 1]])


def test_merge_topk_breaks_ties_by_the_smaller_id_and_puts_empty_slots_last():
    values = torch.tensor([[1.0, 5.0, 5.0, float("inf"), 2.0]])
    ids = torch.tensor([[4, 9, 3, -1, 7]])  # id -1: an empty slot, whatever its value
    top, top_ids = merge_topk(values, ids, 4)
    assert top_ids.tolist() == [[3, 9, 7, 4]] and top.tolist() == [[5.0, 5.0, 2.0, 1.0]]
    assert merge_topk(values, ids, 5)[1].tolist() == [[3, 9, 7, 4, -1]]


def test_objective_from_text():
    assert objective_from_text("Channel(features.8)").describe() == "Channel(features.8)"
    assert objective_from_text("ClassLogit(output)").describe() == "ClassLogit(output)"
    with pytest.raises(ConfigError, match="pass --objective"):
        objective_from_text("Direction(features.8)")
