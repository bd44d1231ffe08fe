import pytest
import torch
from torch import nn

from lit_actmax.backbones.probe import LayerProbe, ProbeError, list_layers
from lit_actmax.testing import shared_relu_net, tiny_convnet


class Counting(nn.Module):
    """Wraps a module and counts its calls (to observe the early exit)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_probe_returns_activation_and_stops_early():
    model = tiny_convnet()
    model.features[4] = Counting(model.features[4])
    x = torch.rand(2, 3, 32, 32)
    with LayerProbe(model, "features.2") as probe:
        acts = probe(x)
    assert acts["features.2"].shape == (2, 16, 16, 16)
    assert model.features[4].calls == 0  # the forward pass ended after features.2
    full = LayerProbe(model, ["features.2", "output"])(x)
    assert model.features[4].calls == 1 and full["output"].shape == (2, 10)


def test_inplace_relu_after_the_layer_does_not_overwrite_the_capture():
    model = tiny_convnet()  # features.0 (conv) is followed by ReLU(inplace=True)
    x = torch.rand(2, 3, 32, 32) * 4 - 2
    acts = LayerProbe(model, ["features.0", "output"])(x)  # no early exit: the ReLU runs
    direct = model.features[0](x)
    assert (acts["features.0"] < 0).any()
    assert torch.allclose(acts["features.0"], direct)


def test_gradient_flows_to_the_input():
    model = tiny_convnet()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    LayerProbe(model, "features.2")(x)["features.2"].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_hooks_are_removed():
    model = tiny_convnet()
    probe = LayerProbe(model, "features.2")
    probe(torch.rand(1, 3, 32, 32))
    assert not model.features[2]._forward_hooks
    with probe:
        assert model.features[2]._forward_hooks
    assert not model.features[2]._forward_hooks
    with pytest.raises(RuntimeError):
        with probe:
            raise RuntimeError("boom")
    assert not model.features[2]._forward_hooks


def test_unknown_layer_suggests_close_names():
    with pytest.raises(ProbeError, match=r"no layer 'feature\.2'.*features\.2"):
        LayerProbe(tiny_convnet(), "feature.2")


def test_shared_module_is_reported_and_a_call_can_be_chosen():
    model = shared_relu_net()
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ProbeError, match=r"used at 2 places.*'act#0'"):
        LayerProbe(model, "act").check(x)
    first = LayerProbe(model, "act#0")(x)["act#0"]
    second = LayerProbe(model, "act#1")(x)["act#1"]
    assert torch.allclose(first, torch.relu(model.conv1(x)))
    assert torch.allclose(second, torch.relu(model.conv2(first)))
    with pytest.raises(ProbeError, match="#0 to #1"):
        LayerProbe(model, "act#2").check(x)


def test_list_layers_reports_shapes_and_shared_use():
    infos = {i.name: i for i in list_layers(shared_relu_net(), torch.rand(1, 3, 8, 8))}
    assert infos["conv1"].shape == (4, 8, 8) and infos["act"].calls == 2
    assert infos["output"].shape == (3,)


def test_probe_survives_pickling():
    import pickle

    probe = LayerProbe(tiny_convnet(), "features.2").attach()
    clone = pickle.loads(pickle.dumps(probe))
    assert not clone.attached
    assert clone(torch.rand(1, 3, 32, 32))["features.2"].shape == (1, 16, 16, 16)
    probe.remove()
