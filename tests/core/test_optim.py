"""GradientAscent: act_max_util's stateless step ``x += alpha * grad``; equal to SGD on the negated objective."""

import pytest
import torch

from lit_actmax.core.optim import GradientAscent


def objective_grad(x):
    """d/dx of sum(sin(x) * 3), an objective to ascend; the loss the module minimizes is its negative."""
    return 3 * torch.cos(x)


def take_steps(make, steps=3):
    x = torch.nn.Parameter(torch.linspace(-1, 1, 2 * 3 * 2 * 2).view(2, 3, 2, 2))
    optimizer = make([x])
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -(3 * torch.sin(x)).sum()
        loss.backward()
        optimizer.step()
    return x.detach()


def test_step_is_x_plus_alpha_times_the_objective_gradient():
    x0 = torch.linspace(-1, 1, 24).view(2, 3, 2, 2)
    expected = x0.clone()
    for _ in range(3):
        expected = expected + 0.1 * objective_grad(expected)
    torch.testing.assert_close(take_steps(lambda p: GradientAscent(p, lr=0.1)), expected)


def test_equals_sgd_on_the_negated_objective_and_keeps_no_state():
    ours = take_steps(lambda p: GradientAscent(p, lr=0.2))
    sgd = take_steps(lambda p: torch.optim.SGD(p, lr=0.2))
    torch.testing.assert_close(ours, sgd, atol=0, rtol=0)
    x = torch.nn.Parameter(torch.ones(1, 3, 1, 1))
    optimizer = GradientAscent([x], lr=1.0)
    x.grad = torch.ones_like(x)
    optimizer.step()
    assert optimizer.state_dict()["state"] == {}


def test_channel_scale_steps_in_a_normalized_space():
    std = torch.tensor([0.229, 0.224, 0.225])
    x = torch.nn.Parameter(torch.zeros(1, 3, 2, 2))
    optimizer = GradientAscent([x], lr=100.0, channel_scale=(std ** 2).tolist())
    x.grad = -torch.ones_like(x)  # loss gradient -1: the objective gradient is +1 per pixel
    optimizer.step()
    # ascent in z = (x - mean) / std with dL/dz = std * dL/dx: z += 100 * std -> x += 100 * std^2
    torch.testing.assert_close(x.detach(), (100 * std ** 2).view(1, 3, 1, 1).expand(1, 3, 2, 2))
    bad = GradientAscent([torch.nn.Parameter(torch.zeros(1, 4, 2, 2))], lr=1.0, channel_scale=[1.0, 1.0, 1.0])
    bad.param_groups[0]["params"][0].grad = torch.ones(1, 4, 2, 2)
    with pytest.raises(ValueError, match="channel_scale has 3 factors"):
        bad.step()


@pytest.mark.parametrize("kwargs, message", [(dict(lr=0), "lr must be positive"),
                                             (dict(lr=1, channel_scale=[1, -1, 1]), "positive factors")])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GradientAscent([torch.nn.Parameter(torch.zeros(1))], **kwargs)
