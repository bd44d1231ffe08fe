"""Noise and ColorJitter: per-row draws (per crop after MultiCrop), no clamping, no-ops at zero."""

import pytest
import torch

from lit_actmax.augment import ColorJitter, Compose, MultiCrop, Noise
from lit_actmax.errors import ConfigError


def test_noise_statistics(gens):
    x = torch.zeros(2, 3, 64, 64)
    gaussian = Noise(std=0.1, uniform=0.0)(x, gens([0, 1]))
    assert abs(float(gaussian.std()) - 0.1) < 0.005 and abs(float(gaussian.mean())) < 0.005
    uniform = Noise(std=0.0, uniform=0.2)(x, gens([0, 1]))
    assert float(uniform.min()) >= -0.1 and float(uniform.max()) <= 0.1 and float(uniform.std()) > 0.05
    assert Noise(0, 0)(x, gens([0, 1])) is x
    with pytest.raises(ValueError, match=">= 0"):
        Noise(std=-1)


def test_color_jitter_follows_the_transform_conventions(gens):
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    jitter = ColorJitter(shift=0.2, scale=0.5)
    out = jitter(images, gens(range(3)))
    assert out.shape == images.shape and torch.equal(out, jitter(images, gens(range(3))))
    alone = jitter(images[1:2], gens(range(3))[1:2])  # an image's colour does not depend on its batch
    assert torch.allclose(out[1:2], alone)
    gain = (out - 0.5).flatten(2).std(-1) / (images - 0.5).flatten(2).std(-1)
    assert ((gain > 0.6) & (gain < 1.65)).all() and not torch.allclose(gain, torch.ones_like(gain))
    assert torch.equal(ColorJitter(0, 0)(images, gens(range(3))), images)
    crops = Compose([MultiCrop(4), ColorJitter()])(images, gens(range(3)))  # one draw per crop after MultiCrop
    assert crops.shape == (12, 3, images.shape[2], images.shape[3])
    assert ColorJitter()(torch.rand(12, 3, 4, 4), gens(range(3))).shape == (12, 3, 4, 4)  # rows split per image
    images.requires_grad_(True)
    jitter(images, gens(range(3))).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="must be >= 0"):
        ColorJitter(shift=-0.1)
