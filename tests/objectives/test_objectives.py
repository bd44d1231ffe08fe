import pytest
import torch

from lit_actmax.objectives import Channel, ClassLogit, Direction, Diversity, Layer, Neuron, RenderBatch
from lit_actmax.objectives.regularizers import L1, L2, TotalVariation


def batch(acts, units, image=None):
    return RenderBatch(acts=acts, units=torch.tensor(units), image=image)


def test_each_image_scores_its_own_unit():
    acts = torch.arange(2 * 4 * 3 * 3, dtype=torch.float32).view(2, 4, 3, 3)
    b = batch({"l": acts}, [1, 3])
    assert torch.allclose(Channel("l")(b), torch.stack([acts[0, 1].mean(), acts[1, 3].mean()]))
    assert torch.allclose(Neuron("l")(b), torch.stack([acts[0, 1, 1, 1], acts[1, 3, 1, 1]]))
    assert torch.allclose(Neuron("l", y=0, x=2)(b), torch.stack([acts[0, 1, 0, 2], acts[1, 3, 0, 2]]))
    assert torch.allclose(Channel("l", unit=2)(b), acts[:, 2].mean((1, 2)))
    assert torch.allclose(Layer("l")(b), acts.flatten(1).pow(2).mean(1))


def test_class_logit_and_softmax():
    logits = torch.randn(3, 10)
    b = batch({"output": logits}, [0, 5, 9])
    assert torch.allclose(ClassLogit()(b), logits[[0, 1, 2], [0, 5, 9]])
    log_p = ClassLogit(normalize="log_softmax")(b)
    assert torch.allclose(log_p, logits.log_softmax(-1)[[0, 1, 2], [0, 5, 9]])
    with pytest.raises(ValueError, match="normalize"):
        ClassLogit(normalize="probit")


def test_token_activations_are_channels_last():
    acts = torch.randn(2, 5, 6)  # (B, tokens, C)
    b = batch({"l": acts}, [4, 0])
    assert torch.allclose(Channel("l")(b), torch.stack([acts[0, :, 4].mean(), acts[1, :, 0].mean()]))
    assert Channel("l").num_units({"l": (5, 6)}) == 6


def test_direction_projects_on_each_units_vector():
    acts = torch.randn(2, 3, 4, 4)
    vectors = torch.tensor([[1.0, 0, 0], [0, 2.0, 0]])
    b = batch({"l": acts}, [0, 1])
    expected = torch.stack([acts[0, 0].mean(), acts[1, 1].mean()])
    assert torch.allclose(Direction("l", vectors)(b), expected, atol=1e-6)
    assert Direction("l", vectors).num_units({"l": (3, 4, 4)}) == 2
    cosine = Direction("l", [1.0, 1.0, 1.0], metric="cosine")(b)
    assert (cosine.abs() <= 1).all()


def test_algebra_reads_like_the_math():
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


def test_diversity_is_zero_alone_and_rewards_different_variants():
    torch.manual_seed(0)
    acts = torch.rand(4, 6, 5, 5)
    same = batch({"l": acts[[0, 0, 1, 2]]}, [7, 7, 8, 9])
    score = Diversity("l")(same)
    assert score[2] == 0 and score[3] == 0
    assert torch.allclose(score[0], torch.tensor(-1.0), atol=1e-5)  # identical variants: similarity 1
    different = batch({"l": torch.stack([acts[0], -acts[0] + acts[0].max()])}, [7, 7])
    assert (Diversity("l")(different) > score[0]).all()


def test_regularizers_penalize_what_they_name():
    flat = torch.full((1, 3, 8, 8), 0.5)
    noisy = flat + 0.3 * torch.randn(1, 3, 8, 8).sign()
    for reg in (TotalVariation(), L1(), L2()):
        assert reg(batch({}, [0], flat)) == 0
        assert reg(batch({}, [0], noisy)) > 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0  # vertical stripes: every horizontal neighbour differs by 1
    assert torch.allclose(TotalVariation().penalty(stripes), torch.tensor([1.0]))
    assert torch.allclose(TotalVariation(weight=3)(batch({}, [0], stripes)), torch.tensor([3.0]))
