"""Naturalness statistics on synthetic images whose answers are known, and on photographs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lit_actmax.image.stats import (
    border_contrast_ratio,
    border_ratio,
    clipped_share,
    high_frequency_share,
    luminance,
    total_variation_per_pixel,
    white_noise_share,
)


def noise(n: int = 4, size: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def gradient(size: int = 96) -> torch.Tensor:
    ramp = torch.linspace(0, 1, size)
    return torch.stack([ramp.view(1, -1).expand(size, size), ramp.view(-1, 1).expand(size, size),
                        torch.full((size, size), 0.5)]).unsqueeze(0)


def test_white_noise_share_matches_the_share_of_grid_frequencies_above_the_cutoff():
    expected = white_noise_share(96, 96)
    assert abs(expected - (1 - math.pi / 16)) < 0.01  # the continuous answer: square minus the disc of radius 1/4
    share = high_frequency_share(noise(16))
    assert share.shape == (16,)
    assert abs(share.mean().item() - expected) < 0.01
    assert abs(high_frequency_share(noise(4), cutoff=0.4).mean().item() - white_noise_share(96, 96, 0.4)) < 0.01


def test_high_frequency_share_matches_a_numpy_reference():
    np = pytest.importorskip("numpy")
    images = noise(2, 40) * 0.3 + gradient(40) * 0.7
    y = luminance(images).numpy()
    y = y - y.mean(axis=(1, 2), keepdims=True)
    y = np.concatenate([y, y[:, :, ::-1]], 2)
    y = np.concatenate([y, y[:, ::-1, :]], 1)
    power = np.abs(np.fft.fft2(y)) ** 2
    r = np.hypot(*np.meshgrid(np.fft.fftfreq(80), np.fft.fftfreq(80), indexing="ij"))
    reference = power[:, r > 0.25].sum(1) / power.sum((1, 2))
    assert torch.allclose(high_frequency_share(images), torch.tensor(reference, dtype=torch.float32), atol=1e-6)


def test_smooth_images_have_almost_no_high_frequencies_even_across_the_edge_and_a_single_image_is_a_batch_of_one():
    assert high_frequency_share(gradient()).item() < 1e-4  # a ramp is no sawtooth: the image is mirrored
    blurred = F.avg_pool2d(noise(2), 8, stride=1, padding=4)
    assert (high_frequency_share(blurred) < 0.02).all()
    assert high_frequency_share(gradient()[0]).shape == (1,)


def test_clipped_share_counts_the_values_at_the_ends_of_the_range():
    image = torch.full((2, 3, 4, 4), 0.5)
    image[0, 0, 0, :2] = 0.0  # 2 of 48 values at 0
    image[0, 1, 1, 0] = 1.0  # one at 1
    image[0, 2, 2, 0] = 1.5 / 255  # inside the range
    assert clipped_share(image).tolist() == pytest.approx([3 / 48, 0.0])
    assert clipped_share(image[0]).shape == (1,)


def test_total_variation_per_pixel_is_the_sum_over_both_axes():
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1.0  # vertical stripes: every horizontal neighbour pair differs by 1, no vertical pair
    assert total_variation_per_pixel(stripes).item() == pytest.approx(1.0)
    assert total_variation_per_pixel(torch.full((2, 3, 8, 8), 0.3)).tolist() == [0.0, 0.0]
    assert total_variation_per_pixel(noise(8)).mean().item() == pytest.approx(2 / 3, abs=0.02)  # E|U-V| = 1/3 per axis


def test_a_faded_frame_has_a_border_ratio_below_one_and_a_uniform_texture_about_one():
    texture = noise(4, 96)
    detail, contrast = border_ratio(texture), border_contrast_ratio(texture)
    assert ((detail - 1).abs() < 0.05).all() and ((contrast - 1).abs() < 0.05).all()
    distance = torch.arange(96).float()
    distance = torch.minimum(distance, 95 - distance)
    edge = torch.minimum(distance.view(-1, 1), distance.view(1, -1))
    alpha = (edge / 16).clamp(max=1.0)  # fades to grey over the outer 16 pixels
    faded = texture * alpha + 0.5 * (1 - alpha)
    assert (border_ratio(faded) < 0.7).all() and (border_contrast_ratio(faded) < 0.7).all()
    assert (border_ratio(faded, border=8) < border_ratio(faded, border=16)).all()
    with pytest.raises(ValueError, match="no centre"):
        border_ratio(texture, border=48)


def test_photographs_at_224_px_have_a_small_high_frequency_share_and_low_variation():
    data = pytest.importorskip("skimage.data")
    for name in ("astronaut", "chelsea", "coffee"):
        photo = torch.tensor(getattr(data, name)()).permute(2, 0, 1).float().unsqueeze(0) / 255
        side = min(photo.shape[-2:])
        photo = F.interpolate(photo[..., :side, :side], size=(224, 224), mode="bilinear", antialias=True,
                              align_corners=False)
        assert 0.005 < high_frequency_share(photo).item() < 0.03, name
        assert total_variation_per_pixel(photo).item() < 0.1, name
