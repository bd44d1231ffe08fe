"""The objective contract and its algebra: terms add, subtract and scale like the math; unit bounds combine."""

import torch

import lit_actmax.objectives as objectives
from lit_actmax.objectives import L1, Channel, ClassLogit, Layer, Neuron, TotalVariation


def test_algebra_reads_like_the_math(batch):
    acts = torch.rand(2, 4, 3, 3)
    image = torch.rand(2, 3, 8, 8)
    b = batch({"l": acts}, [0, 2], image)
    objective = Channel("l") - 0.05 * TotalVariation() + 2 * Neuron("l") - L1(0.1) / 2
    expected = (Channel("l")(b) - 0.05 * TotalVariation()(b) + 2 * Neuron("l")(b) - 0.05 * L1()(b))
    assert torch.allclose(objective(b), expected)
    assert torch.allclose(objective.activation(b), Channel("l")(b) + 2 * Neuron("l")(b))
    assert objective.layers == ("l",)
    assert objective.describe() == "Channel(l) - 0.05*TotalVariation(1) + 2*Neuron(l) - 0.5*L1(0.1)"
    assert torch.allclose(sum([Channel("l"), Neuron("l")])(b), Channel("l")(b) + Neuron("l")(b))


def test_num_units_bounds_the_unit_range():
    shapes = {"l": (8, 4, 4), "output": (1000,)}
    assert (Channel("l") + ClassLogit()).num_units(shapes) == 8
    assert (Channel("l", unit=3) + ClassLogit()).num_units(shapes) == 1000
    assert Layer("l").num_units(shapes) is None


def test_the_package_names_every_public_name_of_its_modules():
    from lit_actmax.objectives import (
        activation,
        base,
        direction,
        diversity,
        image_distance,
        per_layer,
        regularizers,
        selections,
    )

    modules = (activation, base, direction, diversity, image_distance, per_layer, regularizers, selections)
    names = {name for module in modules for name in module.__all__}
    assert names == set(objectives.__all__) and len(objectives.__all__) == len(names)
    for module in modules:
        assert all(getattr(objectives, n) is getattr(module, n) for n in module.__all__), module
