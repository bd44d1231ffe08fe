"""ClassLogit, Channel, Neuron, Layer: each image scores its own unit of a layer, in any layout."""

import pytest
import torch

from lit_actmax.objectives import Channel, ClassLogit, Layer, Neuron


def test_each_image_scores_its_own_unit(batch):
    acts = torch.arange(2 * 4 * 3 * 3, dtype=torch.float32).view(2, 4, 3, 3)
    b = batch({"l": acts}, [1, 3])
    assert torch.allclose(Channel("l")(b), torch.stack([acts[0, 1].mean(), acts[1, 3].mean()]))
    assert torch.allclose(Neuron("l")(b), torch.stack([acts[0, 1, 1, 1], acts[1, 3, 1, 1]]))
    assert torch.allclose(Neuron("l", y=0, x=2)(b), torch.stack([acts[0, 1, 0, 2], acts[1, 3, 0, 2]]))
    assert torch.allclose(Channel("l", unit=2)(b), acts[:, 2].mean((1, 2)))
    assert torch.allclose(Layer("l")(b), acts.flatten(1).pow(2).mean(1))


def test_class_logit_and_softmax(batch):
    logits = torch.randn(3, 10)
    b = batch({"output": logits}, [0, 5, 9])
    assert torch.allclose(ClassLogit()(b), logits[[0, 1, 2], [0, 5, 9]])
    log_p = ClassLogit(normalize="log_softmax")(b)
    assert torch.allclose(log_p, logits.log_softmax(-1)[[0, 1, 2], [0, 5, 9]])
    with pytest.raises(ValueError, match="normalize"):
        ClassLogit(normalize="probit")


def test_token_activations_are_channels_last(batch):
    acts = torch.randn(2, 5, 6)  # (B, tokens, C)
    b = batch({"l": acts}, [4, 0])
    assert torch.allclose(Channel("l")(b), torch.stack([acts[0, :, 4].mean(), acts[1, :, 0].mean()]))
    assert Channel("l").num_units({"l": (5, 6)}) == 6
