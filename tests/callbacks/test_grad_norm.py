"""Per-unit gradient normalization/clipping: each image's gradient is rescaled alone."""

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import Compose
from lit_actmax.callbacks import PerUnitGradNorm
from lit_actmax.callbacks.grad_norm import per_image_grad_norm
from lit_actmax.params import Maco

TINY = "lit_actmax.testing:tiny_backbone"


class FakeModule:
    """What the callback reads of the module: ``renderer.param`` with gradients set."""

    def __init__(self, grads):
        param = torch.nn.Module()
        for i, g in enumerate(grads):
            p = torch.nn.Parameter(torch.zeros_like(g))
            p.grad = g.clone()
            param.register_parameter(f"p{i}", p)
        self.renderer = SimpleNamespace(param=param)


def grads_of(module):
    return [p.grad for p in module.renderer.param.parameters()]


def test_normalize_gives_every_image_the_same_norm_and_keeps_directions():
    g1 = torch.randn(3, 2, 4) * torch.tensor([100.0, 1.0, 0.01]).view(3, 1, 1)
    g2 = torch.randn(3, 5) * torch.tensor([100.0, 1.0, 0.01]).view(3, 1)
    module = FakeModule([g1, g2])
    PerUnitGradNorm("normalize", max_norm=2.0).on_before_optimizer_step(None, module, None)
    after = per_image_grad_norm(list(module.renderer.param.parameters()))
    torch.testing.assert_close(after, torch.full((3,), 2.0))
    new1, new2 = grads_of(module)
    for i in range(3):  # same direction, per image, across both parameters
        before = torch.cat([g1[i].flatten(), g2[i].flatten()])
        now = torch.cat([new1[i].flatten(), new2[i].flatten()])
        torch.testing.assert_close(torch.nn.functional.cosine_similarity(before, now, dim=0), torch.tensor(1.0))


def test_clip_only_touches_images_above_the_limit():
    g = torch.randn(3, 10) * torch.tensor([50.0, 0.1, 0.01]).view(3, 1)
    module = FakeModule([g])
    callback = PerUnitGradNorm("clip", max_norm=1.0)
    callback.on_before_optimizer_step(None, module, None)
    (new,) = grads_of(module)
    assert float(new[0].norm()) == pytest.approx(1.0, rel=1e-5)
    torch.testing.assert_close(new[1:], g[1:])
    torch.testing.assert_close(callback.last_norms, g.norm(dim=1))
    inf = PerUnitGradNorm("clip", max_norm=0.1, norm_type=float("inf"))
    inf.on_before_optimizer_step(None, module, None)
    assert float(grads_of(module)[0][0].abs().max()) == pytest.approx(0.1, rel=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        PerUnitGradNorm("scale")
    with pytest.raises(ValueError, match="max_norm"):
        PerUnitGradNorm(max_norm=0)


def test_in_training_each_unit_is_independent_of_its_batch_neighbours(tmp_path, make_trainer):
    seen = []

    class After(pl.Callback):  # runs after PerUnitGradNorm: sees the rescaled gradients
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            seen.append(per_image_grad_norm(list(pl_module.renderer.param.parameters())))

    def fit(units):
        module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units=units, size=32,
                              batch_size=len(units), steps_per_epoch=3, epochs=1, param=Maco(), save_outputs=False,
                              transforms=Compose([]))
        make_trainer(callbacks=[PerUnitGradNorm("normalize", max_norm=0.5), After()]).fit(module)
        return module.last_finished.images

    together = fit([1, 2])
    torch.testing.assert_close(torch.stack(seen), torch.full((3, 2), 0.5))
    alone = fit([2])
    torch.testing.assert_close(together[1], alone[0], atol=1e-5, rtol=1e-5)


def test_trainer_global_clipping_is_refused_in_favour_of_the_callback(make_trainer):
    from lit_actmax import ConfigError

    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units=[0], size=32, batch_size=1,
                          steps_per_epoch=1, epochs=1, save_outputs=False)
    with pytest.raises(ConfigError, match="clip"):
        make_trainer(gradient_clip_val=1.0).fit(module)
