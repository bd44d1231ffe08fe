"""Between-epoch image callbacks on small images with known answers, through a stand-in module.

The stand-in has what the callbacks use of ``ActMaxModule``: a ``renderer`` with ``param`` (a real
parameterization), ``preprocess``, ``items`` and ``seed``; a ``schedule``; ``device``, ``epoch_in_group``,
``is_last_epoch_of_group`` and ``reset_optimizer_state``.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import ndimage

from lit_actmax.backbones import Normalize
from lit_actmax.callbacks import (
    BilateralFilter,
    BoxBlur,
    Clamp,
    ContributionCrop,
    GaussianBlur,
    L2Decay,
    NormCrop,
    RandomAffineBetweenEpochs,
    ResetOptimizerState,
    Resize,
)
from lit_actmax.core.schedule import UnitImage, UnitSchedule
from lit_actmax.core.seeding import unit_generators
from lit_actmax.errors import ConfigError
from lit_actmax.params import Fourier, Pixel


def stand_in(images, param=None, epoch=0, epochs=10, items=None, preprocess=None):
    param = param or Pixel(activation="none")
    param.reset(unit_generators(0, list(range(images.shape[0])), [0] * images.shape[0], 1), images.shape[-2:])
    param.set_image(images)
    resets = []
    items = tuple(UnitImage(*item) for item in items or [(u, 0, True) for u in range(images.shape[0])])
    module = SimpleNamespace(
        renderer=SimpleNamespace(param=param, preprocess=preprocess or Normalize(), items=items, seed=0),
        schedule=UnitSchedule([item.unit for item in items], batch_size=len(items), epochs=epochs),
        device=torch.device("cpu"), epoch_in_group=epoch, is_last_epoch_of_group=epoch == epochs - 1,
        reset_optimizer_state=lambda params=None: resets.append(1), resets=resets,
    )
    return SimpleNamespace(current_epoch=epoch), module


def run(callback, images, **kw):
    trainer, module = stand_in(images, **kw)
    callback.on_train_epoch_end(trainer, module)
    return module.renderer.param().detach(), module


def image(seed=0, shape=(2, 3, 12, 10)):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_gaussian_blur_acts_like_scipy_and_keeps_the_mean():
    x = image()
    out, _ = run(GaussianBlur(sigma=1.0), x)
    expected = np.stack([[ndimage.gaussian_filter(c, 1.0) for c in im] for im in x.numpy()])
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
    torch.testing.assert_close(out.mean((2, 3)), x.mean((2, 3)), atol=1e-6, rtol=0)


def test_blur_through_a_fourier_parameterization_keeps_the_mean_and_smooths():
    x = 0.25 + 0.5 * image(1)
    trainer, module = stand_in(x, param=Fourier())
    before = module.renderer.param().detach()
    GaussianBlur(sigma=1.5).on_train_epoch_end(trainer, module)
    after = module.renderer.param().detach()
    torch.testing.assert_close(after.mean((2, 3)), before.mean((2, 3)), atol=2e-3, rtol=0)
    assert (after[..., 1:, :] - after[..., :-1, :]).abs().mean() < 0.5 * (before[..., 1:, :] - before[..., :-1, :]).abs().mean()


def test_box_blur_and_bilateral_filter():
    x = image(2)
    out, _ = run(BoxBlur(size=3), x)
    expected = np.stack([[ndimage.uniform_filter(c, 3, mode="mirror") for c in im] for im in x.numpy()])
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
    edge = torch.zeros(1, 3, 10, 10)
    edge[..., 5:] = 1.0
    kept, _ = run(BilateralFilter(diameter=5, sigma_color=0.1, sigma_space=2.0), edge)
    assert (kept - edge).abs().max() < 1e-5
    mixed, _ = run(BilateralFilter(diameter=5, sigma_color=75, sigma_space=75), edge)
    assert 0.2 < float(mixed[0, 0, 5, 4]) < 0.5


def test_l2_decay_in_model_space_moves_towards_the_mean_colour():
    x = image(3)
    out, _ = run(L2Decay(rate=0.1), x)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, mean + 0.9 * (x - mean))
    out, _ = run(L2Decay(rate=0.5, space="image"), x)
    torch.testing.assert_close(out, 0.5 + 0.5 * (x - 0.5))


def test_norm_crop_zeroes_exactly_the_pixels_under_the_percentile():
    x = image(4, (1, 3, 4, 5))
    out, _ = run(NormCrop(percentile=30, space="image"), x)
    norms = (x - 0.5).norm(dim=1)[0]
    cut = norms < torch.quantile(norms.flatten(), 0.30)
    assert int(cut.sum()) == 6  # 30% of 20 pixels
    assert torch.equal(out[0][:, cut], torch.full((3, 6), 0.5))
    assert torch.equal(out[0][:, ~cut], x[0][:, ~cut])


def test_contribution_crop_uses_the_model_space():
    x = image(5, (1, 3, 4, 4))
    out, module = run(ContributionCrop(percentile=50), x)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    z = ((x[0] - mean) / std).abs()
    cut = z < torch.quantile(z.flatten(), 0.5)
    assert int(cut.sum()) == 24
    torch.testing.assert_close(out[0][cut], mean.expand(3, 4, 4)[cut], atol=1e-6, rtol=0)
    assert torch.equal(out[0][~cut], x[0][~cut])


def test_clamp_and_reset_optimizer_state():
    x = 2 * image(6) - 0.5
    out, module = run(Clamp(), x)
    assert out.min() >= 0 and out.max() <= 1 and torch.equal(out, x.clamp(0, 1))
    out, module = run(ResetOptimizerState(), x)
    assert torch.equal(out, x) and module.resets == [1]


def test_random_affine_between_epochs_depends_only_on_unit_and_epoch():
    x = image(7, (3, 3, 16, 16))
    callback = RandomAffineBetweenEpochs(shift=2, degrees=5, scale=0.1)
    out, _ = run(callback, x, items=[(4, 0, True), (9, 0, True), (11, 0, True)], epoch=3)
    params = dict(callback.last_params)
    assert all(abs(p[0]) <= 2 and abs(p[1]) <= 2 and float(p[0]).is_integer() for p in params.values())
    assert all(abs(p[2]) <= 5 and 0.9 <= p[3] <= 1.1 for p in params.values())
    assert len({p for p in params.values()}) == 3
    # unit 9 alone, in another batch: the same motion, the same image
    alone, _ = run(RandomAffineBetweenEpochs(shift=2, degrees=5, scale=0.1), x[1:2], items=[(9, 0, True)], epoch=3)
    torch.testing.assert_close(alone[0], out[1])
    other_epoch = RandomAffineBetweenEpochs(shift=2, degrees=5, scale=0.1)
    run(other_epoch, x[1:2], items=[(9, 0, True)], epoch=4)
    assert other_epoch.last_params[(9, 0, 0)] != params[(9, 0, 0)]
    # a pure whole-pixel shift moves the content exactly
    shift = RandomAffineBetweenEpochs(shift=3, degrees=0, scale=0, border="constant", fill=0.0)
    moved, _ = run(shift, x[:1], items=[(0, 0, True)], epoch=0)
    dy, dx, _, _ = (int(v) for v in shift.last_params[(0, 0, 0)])
    src = x[0, :, max(0, -dy):16 - max(0, dy), max(0, -dx):16 - max(0, dx)]
    dst = moved[0, :, max(0, dy):16 - max(0, -dy), max(0, dx):16 - max(0, -dx)]
    torch.testing.assert_close(dst, src, atol=1e-5, rtol=0)


def test_resize_grows_the_parameter_and_drops_the_optimizer_state():
    x = image(8, (2, 3, 10, 10))
    trainer, module = stand_in(x)
    pixels = module.renderer.param.pixels
    callback = Resize(factor=1.5, max_size=20)
    callback.on_train_epoch_end(trainer, module)
    assert module.renderer.param.pixels is pixels and pixels.shape == (2, 3, 15, 15) and module.resets == [1]
    assert module.renderer.param().shape == (2, 3, 15, 15)
    torch.testing.assert_close(module.renderer.param().mean((2, 3)), x.mean((2, 3)), atol=0.02, rtol=0)
    for epoch in (1, 2):
        trainer.current_epoch = module.epoch_in_group = epoch
        callback.on_train_epoch_end(trainer, module)
    assert callback.sizes == [(15, 15), (20, 20), (20, 20)] and len(module.resets) == 2  # capped at 20


def test_schedule_every_start_stop_last_and_no_double_application():
    x = image(9)
    callback = GaussianBlur(sigma=1.0, every=4, start=1, stop=9, on_last_epoch=False)
    due = [e for e in range(12) if callback.schedule.due(e, last=e == 11)]
    assert due == [1, 5]
    assert [e for e in range(8) if GaussianBlur(every=4).schedule.due(e, e == 7)] == [0, 4]  # act_max_util: k % 4 == 0
    assert [e for e in range(12) if Resize().schedule.due(e, e == 11)] == list(range(11))  # midnite: n + 1 < iter_n
    trainer, module = stand_in(x, epoch=1)
    callback.on_train_epoch_end(trainer, module)
    once = module.renderer.param().detach().clone()
    callback.on_train_epoch_end(trainer, module)  # the same epoch end replayed (resume): no second blur
    assert torch.equal(module.renderer.param().detach(), once) and callback.applied == 1
    state = callback.state_dict()
    fresh = GaussianBlur(sigma=1.0, every=4, start=1, stop=9, on_last_epoch=False)
    fresh.load_state_dict(state)
    assert fresh.applied == 1 and fresh.last_epoch == 1
    assert GaussianBlur(sigma=1.0).state_key != GaussianBlur(sigma=2.0).state_key


@pytest.mark.parametrize("make, message", [
    (lambda: GaussianBlur(sigma=0), "sigma must be positive"),
    (lambda: GaussianBlur(every=0), "every must be at least 1"),
    (lambda: GaussianBlur(border="wrap"), "border must be one of"),
    (lambda: BoxBlur(border="reflection"), "border must be one of"),
    (lambda: BilateralFilter(border="constant"), "border must be one of"),
    (lambda: RandomAffineBetweenEpochs(border="reflect"), "border must be one of"),
    (lambda: NormCrop(percentile=130), r"percentile must be in \[0, 100\]"),
    (lambda: L2Decay(space="rgb"), "space must be 'model'"),
    (lambda: Resize(factor=0), "factor must be positive"),
    (lambda: RandomAffineBetweenEpochs(scale=1.5), "scale in"),
    (lambda: GaussianBlur(start=3, stop=2), "stop .* must be greater than start"),
])
def test_bad_settings_fail_early(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_border_mistakes_are_config_errors():
    for make in (lambda: GaussianBlur(border="wrap"), lambda: RandomAffineBetweenEpochs(border="reflection")):
        with pytest.raises(ConfigError, match="border must be one of"):
            make()
