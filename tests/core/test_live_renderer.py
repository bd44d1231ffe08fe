"""LiveRenderer: units of a model in the middle of its training, rendered without a trace on the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lit_actmax.augment import Compose, Jitter
from lit_actmax.core.live_renderer import LiveRenderer, resolve_model
from lit_actmax.errors import ActMaxError, ConfigError
from lit_actmax.objectives import Channel
from lit_actmax.testing import TinyConvNet, seeded


class Classifier(nn.Module):
    """A training module holding the vision model as ``net`` (with BatchNorm) beside a loss."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
        self.loss = nn.CrossEntropyLoss()


def in_training() -> Classifier:
    module = seeded(Classifier).train()
    module.net[0].bias.requires_grad_(False)
    module.net(torch.rand(4, 3, 16, 16)).sum().backward()  # BatchNorm statistics moved, gradients held
    return module


def live(**overrides) -> LiveRenderer:
    options = dict(units="0-4", model="net", size=16, steps=3, batch_size=2, transforms=Compose([Jitter(1)]))
    options.update(overrides)
    return LiveRenderer(**options)


def test_resolve_model_by_name_callable_or_the_module_itself():
    module = Classifier()
    assert resolve_model(module) is module and resolve_model(module, "net.0") is module.net[0]
    assert resolve_model(module, lambda m: m.net) is module.net
    with pytest.raises(ConfigError, match=r"no attribute 'backbone'.*its children: net, loss"):
        resolve_model(module, "backbone")
    with pytest.raises(ConfigError, match="is a Tensor, not an nn.Module"):
        resolve_model(module, lambda m: torch.zeros(1))


def test_render_leaves_the_model_as_it_was_and_repeats_itself():
    module = in_training()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    grads = [p.grad for p in module.parameters()]
    flags = [p.requires_grad for p in module.parameters()], [m.training for m in module.modules()]
    renderer = live()
    renderer.bind(module, "Classifier.net")
    first, second = renderer.render(), renderer.render()
    assert first.keys[:, 0].tolist() == [0, 1, 2, 3, 4] and first.images.shape == (5, 3, 16, 16)
    assert torch.equal(first.images, second.images) and torch.equal(first.activations, second.activations)
    assert ([p.requires_grad for p in module.parameters()], [m.training for m in module.modules()]) == flags
    assert all(p.grad is g for p, g in zip(module.parameters(), grads))
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())  # BatchNorm statistics kept
    assert not renderer.renderer.probe.attached  # every hook removed


def test_ranks_split_the_units_and_give_the_same_images():
    module = in_training()
    renderer = live(units={"0": "0-2", "output": "0-1"})
    renderer.bind(module, "Classifier.net")
    whole = renderer.render()
    parts = [renderer.render(rank, 2) for rank in range(2)]
    assert sorted(map(tuple, torch.cat([p.keys for p in parts]).tolist())) == sorted(map(tuple, whole.keys.tolist()))
    assert not set(map(tuple, parts[0].keys.tolist())) & set(map(tuple, parts[1].keys.tolist()))
    for part in parts:
        for row, image in zip(part.keys.tolist(), part.images):
            assert torch.allclose(image, whole.images[whole.keys.tolist().index(row)], atol=1e-6)


def test_a_bad_layer_is_one_sentence_at_bind_and_the_model_comes_back():
    module = in_training()
    renderer = live(objective=Channel("7"))
    with pytest.raises(ActMaxError, match="no layer '7'"):
        renderer.bind(module, "Classifier.net")
    assert module.training and all(m.training for m in module.modules())
    assert module.net[0].weight.requires_grad and not module.net[0].bias.requires_grad


def test_a_double_precision_model_gets_its_own_dtype():
    model = seeded(TinyConvNet).double().train()
    renderer = live(model=None)
    renderer.bind(model, "TinyConvNet")
    rendering = renderer.render()
    assert rendering.images.dtype == torch.float32 and torch.isfinite(rendering.activations).all()
    assert next(model.parameters()).dtype == torch.float64 and model.training


def test_a_render_that_fails_gives_the_model_back_unhooked():
    module = in_training()
    flags = [p.requires_grad for p in module.parameters()], [m.training for m in module.modules()]
    renderer = live()
    renderer.bind(module, "Classifier.net")

    def broken(parameters):
        raise RuntimeError("no optimizer today")

    renderer.optimizer = broken
    with pytest.raises(RuntimeError, match="no optimizer today"):
        renderer.render()
    assert not renderer.renderer.probe.attached
    assert ([p.requires_grad for p in module.parameters()], [m.training for m in module.modules()]) == flags
