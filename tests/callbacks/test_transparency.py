"""Transparency maps: accumulated |grad| per pixel, the image's size, zero where no gradient reached."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import Compose, MultiCrop, Transform
from lit_actmax.callbacks import Transparency
from lit_actmax.callbacks.transparency import alpha_composite

TINY = "lit_actmax.testing:tiny_backbone"


class LeftHalf(Transform):
    """Shows the model only the left half of the image (columns 0 .. W/2 - 1)."""

    def forward(self, images, generators):
        return images[..., : images.shape[-1] // 2]


def fit(tmp_path, make_trainer, transforms, callback, **overrides):
    options = dict(backbone=TINY, objective=Channel("features.2"), units=[2, 5], size=(32, 40), batch_size=2,
                   steps_per_epoch=3, epochs=2, transforms=transforms, out_dir=str(tmp_path / "runs"), run_name="t")
    options.update(overrides)
    module = ActMaxModule(**options)
    make_trainer(callbacks=[callback]).fit(module)
    return module


def test_map_has_the_image_size_and_is_zero_where_no_gradient_reached(tmp_path, make_trainer):
    callback = Transparency()
    module = fit(tmp_path, make_trainer, LeftHalf(), callback)
    for unit in (2, 5):
        weights = callback.maps[(unit, 0, 0)]
        assert weights.shape == (32, 40)
        assert (weights[:, 20:] == 0).all(), "the right half was never seen by the model"
        assert (weights[:, :20] > 0).float().mean() > 0.95
    folder = module.run_dir / "images" / "features.2"
    raw = np.load(folder / "unit_00002_transparency.npy")
    assert raw.shape == (32, 40) and raw.dtype == np.float32
    np.testing.assert_allclose(raw, callback.maps[(2, 0, 0)].numpy())
    rgba = np.asarray(Image.open(folder / "unit_00002_alpha.png"))
    assert rgba.shape == (32, 40, 4)
    assert (rgba[:, 20:, 3] == 0).all() and rgba[:, :20, 3].max() == 255
    rgb = np.asarray(Image.open(folder / "unit_00002.png"))
    np.testing.assert_array_equal(rgba[..., :3], rgb)
    record = json.loads((folder / "unit_00002.json").read_text())
    assert record["files"] == {"transparency": "images/features.2/unit_00002_transparency.npy",
                               "alpha": "images/features.2/unit_00002_alpha.png"}
    assert record["transparency_coverage"] == pytest.approx(0.5, abs=0.03)


def test_map_equals_the_sum_of_absolute_gradients(tmp_path, make_trainer):
    # with no augmentation and SGD lr 0, every step sees the same image: the map is steps x |grad|
    callback = Transparency(save=False)
    module = fit(tmp_path, make_trainer, Compose([]), callback, units=[3], batch_size=1, epochs=1, steps_per_epoch=4,
                 optimizer=lambda p: torch.optim.SGD(p, lr=0.0), save_outputs=False)
    image = module.renderer.param().detach().requires_grad_(True)
    batch = module.renderer.render(image, None)
    module.renderer.objective(batch).sum().backward()
    expected = 4 * image.grad.abs().sum(1)[0]
    torch.testing.assert_close(callback.maps[(3, 0, 0)], expected, rtol=1e-4, atol=1e-8)


def test_multicrop_coverage_grows_with_boxes(tmp_path, make_trainer):
    small, large = Transparency(save=False), Transparency(save=False)
    fit(tmp_path, make_trainer, MultiCrop(crops=1, size=16, start=(0.25, 0.25), end=(0.25, 0.25)), small,
        steps_per_epoch=1, epochs=1, save_outputs=False)
    fit(tmp_path, make_trainer, MultiCrop(crops=4, size=16, start=(0.9, 1.0), end=(0.9, 1.0)), large,
        steps_per_epoch=1, epochs=1, save_outputs=False)

    def cover(callback: Transparency) -> float:
        return float((callback.maps[(2, 0, 0)] > 0).float().mean())

    assert cover(small) < 0.2 < 0.8 < cover(large)


def test_alpha_composite_and_arguments():
    image = torch.rand(3, 4, 4)
    weights = torch.arange(16.0).view(4, 4)
    rgba = alpha_composite(image, weights, quantile=1.0)
    assert rgba.shape == (4, 4, 4)
    torch.testing.assert_close(rgba[3], weights / 15)
    assert (alpha_composite(image, torch.zeros(4, 4))[3] == 0).all()
    with pytest.raises(ValueError, match="quantile"):
        Transparency(quantile=0)
    callback = Transparency()
    callback.accumulated = torch.ones(2, 3, 3)
    restored = Transparency()
    restored.load_state_dict(callback.state_dict())
    torch.testing.assert_close(restored.accumulated, torch.ones(2, 3, 3))
