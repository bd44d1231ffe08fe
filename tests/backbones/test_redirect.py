"""Redirected ReLU: dead units still get gradient for the first steps; forward values never change."""

import pytest
import torch
from torch import nn

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import Compose
from lit_actmax.backbones import register_backbone
from lit_actmax.backbones.redirect import ReluRedirection, redirect_relus, redirected_relu, relu_modules
from lit_actmax.callbacks import RedirectReLU
from lit_actmax.testing import tiny_backbone


def test_gradient_reaches_inactive_inputs_only_in_the_useful_direction():
    x = torch.tensor([[-2.0, -1.0, 7.0, 3.0]], requires_grad=True)
    y = redirected_relu(x, upper=6.0)
    torch.testing.assert_close(y.detach(), torch.tensor([[0.0, 0.0, 6.0, 3.0]]))
    # the ordinary gradient reaches the active input (index 3): it is used as it is
    (y * torch.tensor([[-1.0, -1.0, -1.0, -1.0]])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.0, 0.0, 0.0, -1.0]]))
    # nothing gets through for this example: redirect, but never push further out of [0, 6]
    x.grad = None
    z = torch.tensor([[-2.0, -1.0, 7.0, 8.0]], requires_grad=True)
    out = redirected_relu(z, upper=6.0)
    (out * torch.tensor([[-1.0, 1.0, -1.0, 1.0]])).sum().backward()
    # loss grads: -1 raises z[0] (toward 0: kept), +1 lowers z[1] (further below: blocked),
    # -1 raises z[2] (further above 6: blocked), +1 lowers z[3] (toward 6: kept)
    torch.testing.assert_close(z.grad, torch.tensor([[-1.0, 0.0, 0.0, 1.0]]))


def test_redirection_is_decided_per_example():
    x = torch.tensor([[-1.0, 2.0], [-1.0, -3.0]], requires_grad=True)
    redirected_relu(x).sum().mul(-1).backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.0, -1.0], [-1.0, -1.0]]))


def test_context_manager_patches_relu_and_relu6_modules_and_restores_them():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(inplace=True), nn.Conv2d(4, 4, 1), nn.ReLU6())
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every unit of the first ReLU is dead
        model[2].weight.fill_(0.1)
        model[2].bias.fill_(1.0)  # the ReLU6 is active
    x = torch.rand(2, 3, 5, 5, requires_grad=True)
    model(x).sum().mul(-1).backward()  # maximize the output
    assert x.grad.abs().sum() == 0
    x.grad = None
    with redirect_relus(model) as count:
        assert count == 2
        reference = model(x.detach())
        out = model(x)
        torch.testing.assert_close(out, reference)
        out.sum().mul(-1).backward()
    assert x.grad.abs().sum() > 0
    assert "forward" not in model[1].__dict__ and "forward" not in model[3].__dict__
    assert [upper for _, _, upper in relu_modules(model)] == [None, 6.0]



def test_a_redirection_switches_on_and_off_and_restores_the_modules():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU())
    with torch.no_grad():
        model[0].bias.fill_(-100.0)
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    redirection = ReluRedirection(enabled=False)
    assert redirection.patch(model) == 1 and redirection.patch(model) == 1  # patched once
    model(x).sum().mul(-1).backward()
    assert x.grad.abs().sum() == 0  # switched off: a plain ReLU
    redirection.enabled = True
    x.grad = None
    model(x).sum().mul(-1).backward()
    assert x.grad.abs().sum() > 0
    redirection.remove()
    assert "forward" not in model[1].__dict__ and redirection.modules == []

def dead_channel_backbone():
    """The tiny backbone with channel 0 of features.4 pushed far below zero: its ReLU is dead on any image."""
    backbone = tiny_backbone()
    with torch.no_grad():
        backbone.model.features[4].bias[0] = -30.0
    return backbone


register_backbone("test_dead_channel", dead_channel_backbone)


@pytest.mark.parametrize("steps", [0, 6])
def test_callback_redirects_only_the_first_steps(make_trainer, steps):
    record = []

    class Spy(RedirectReLU):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
            record.append(self.active)

    callback = Spy(steps=steps)
    module = ActMaxModule(backbone="test_dead_channel", objective=Channel("features.5"), units=[0], size=32,
                          batch_size=1, steps_per_epoch=4, epochs=3, transforms=Compose([]), save_outputs=False,
                          optimizer=lambda p: torch.optim.SGD(p, lr=1.0))
    make_trainer(callbacks=[callback]).fit(module)
    assert record == [i < steps for i in range(12)]
    assert callback.count == 0 or not callback.active
    image = module.last_finished.images
    from lit_actmax.core.seeding import STREAM_INIT, unit_generators

    module.renderer.param.reset(unit_generators(0, [0], [0], STREAM_INIT), 32)
    initial = module.renderer.param().detach()
    moved = float((image - initial).abs().max())
    if steps == 0:
        assert moved < 1e-6, "a dead unit gives no gradient without redirection"
    else:
        assert moved > 1e-3, "redirection must move the image of a dead unit"
    assert "forward" not in module.renderer.backbone.features[1].__dict__  # restored after fit


def test_redirection_raises_the_dead_pre_activation(make_trainer):
    def pre_activation(images):
        backbone = dead_channel_backbone()
        x = backbone.preprocess(images)
        return backbone.model.features[:5](x)[:, 0].mean()

    module = ActMaxModule(backbone="test_dead_channel", objective=Channel("features.5"), units=[0], size=32,
                          batch_size=1, steps_per_epoch=10, epochs=1, transforms=Compose([]), save_outputs=False,
                          optimizer=lambda p: torch.optim.Adam(p, lr=0.1))
    make_trainer(callbacks=[RedirectReLU(steps=10)]).fit(module)
    from lit_actmax.core.seeding import STREAM_INIT, unit_generators

    after = pre_activation(module.last_finished.images)
    module.renderer.param.reset(unit_generators(0, [0], [0], STREAM_INIT), 32)
    before = pre_activation(module.renderer.param().detach())
    assert after > before + 0.05  # moving up toward the active range (the -30 bias is far away)
    with pytest.raises(ValueError, match="steps"):
        RedirectReLU(steps=-1)
