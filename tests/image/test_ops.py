"""lit_actmax.image.ops on small tensors with known answers (scipy / numpy references, hand-made images)."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from lit_actmax.backbones import Normalize, ScaleShift
from lit_actmax.errors import ConfigError
from lit_actmax.image.ops import (
    BORDERS,
    affine_matrices,
    bilateral_filter,
    box_blur,
    check_border,
    contribution_crop,
    decay,
    from_space,
    gaussian_blur,
    grown_size,
    model_space,
    norm_crop,
    pad2d,
    percentile,
    resize_images,
    to_space,
    warp,
)


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("mode, np_mode", [("symmetric", "symmetric"), ("reflect", "reflect"), ("replicate", "edge"),
                                           ("circular", "wrap")])
def test_padding_matches_numpy_even_wider_than_the_image(mode, np_mode):
    x = rand(1, 1, 3, 4)
    out = pad2d(x, 5, 5, 6, 6, mode)
    expected = np.pad(x.numpy(), ((0, 0), (0, 0), (5, 5), (6, 6)), mode=np_mode)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_gaussian_blur_equals_scipy_and_keeps_the_mean():
    x = rand(2, 3, 17, 13)
    out = gaussian_blur(x, 1.0)
    expected = np.stack([np.stack([ndimage.gaussian_filter(c, 1.0, mode="reflect") for c in im]) for im in x.numpy()])
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    torch.testing.assert_close(out.mean((2, 3)), x.mean((2, 3)), atol=1e-12, rtol=0)
    assert out.std() < 0.7 * x.std()  # it does blur
    wide = gaussian_blur(x, 2.5)  # radius 10 > half the image: still one reflection per side
    torch.testing.assert_close(wide.mean((2, 3)), x.mean((2, 3)), atol=1e-12, rtol=0)
    flat = torch.full((1, 3, 8, 8), 0.3, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(flat, 1.0), flat)


def test_box_blur_equals_opencv_style_mean_filter():
    x = rand(1, 3, 9, 11)
    out = box_blur(x, 5)
    expected = np.stack([ndimage.uniform_filter(c, 5, mode="mirror") for c in x[0].numpy()])  # = BORDER_REFLECT_101
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-12)
    assert box_blur(x, 4).shape == x.shape
    with pytest.raises(ValueError, match="size must be at least 1"):
        box_blur(x, 0)


def _bilateral_reference(x, diameter, sigma_color, sigma_space):
    """Brute force, pixel by pixel, as cv2.bilateralFilter defines it (reflect-101 border, disk window)."""
    _, c, h, w = x.shape
    r = diameter // 2
    img = x[0].numpy()
    out = np.zeros_like(img)
    for i in range(h):
        for j in range(w):
            num, den = np.zeros(c), 0.0
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if math.sqrt(dy * dy + dx * dx) > r:
                        continue
                    yy, xx = abs(i + dy), abs(j + dx)
                    yy = 2 * (h - 1) - yy if yy >= h else yy
                    xx = 2 * (w - 1) - xx if xx >= w else xx
                    diff = np.abs(img[:, yy, xx] - img[:, i, j]).sum()
                    weight = math.exp(-diff ** 2 / (2 * sigma_color ** 2) - (dy * dy + dx * dx) / (2 * sigma_space ** 2))
                    num += weight * img[:, yy, xx]
                    den += weight
            out[:, i, j] = num / den
    return out


def test_bilateral_filter_matches_brute_force_and_preserves_edges():
    x = rand(1, 3, 6, 7)
    np.testing.assert_allclose(bilateral_filter(x, 5, 0.2, 2.0)[0].numpy(), _bilateral_reference(x, 5, 0.2, 2.0), atol=1e-12)
    edge = torch.zeros(1, 3, 12, 12, dtype=torch.float64)
    edge[..., 6:] = 1.0
    kept = bilateral_filter(edge, 9, 0.1, 3.0)
    assert (kept - edge).abs().max() < 1e-6  # colours 3 apart (L1) never mix at sigma_color 0.1
    blurred = bilateral_filter(edge, 9, 75.0, 75.0)  # midnite's settings on [0, 1] images: a plain disk blur
    assert 0.3 < float(blurred[0, 0, 6, 5]) < 0.5 and 0.5 < float(blurred[0, 0, 6, 6]) < 0.7


def test_percentile_matches_numpy():
    x = rand(3, 2, 5, 7)
    for q in (0, 30, 50, 99.5, 100):
        expected = [np.percentile(row.numpy(), q) for row in x]
        np.testing.assert_allclose(percentile(x.flatten(1), q).numpy(), expected, atol=1e-12)


def test_norm_crop_zeroes_exactly_the_pixels_under_the_percentile():
    # pixel k (of 10) has colour (k, 0, 0) / 10: norm k / 10; the 30th percentile of 1..10 is 3.7
    norms = torch.arange(1, 11, dtype=torch.float64) / 10
    x = torch.zeros(1, 3, 2, 5, dtype=torch.float64)
    x[0, 0] = norms.view(2, 5)
    x[0, 1] = 0.0
    out = norm_crop(x, 30)
    expected = x.clone()
    expected[0, 0, 0, :3] = 0.0
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    # in a space with a centre, cropped pixels take the centre colour; the norm is measured there
    center = torch.tensor([0.2, 0.5, 0.5], dtype=torch.float64)
    shifted = x + center.view(1, 3, 1, 1)
    out = from_space(norm_crop(to_space(shifted, center, 1.0), 30), center, 1.0)
    assert torch.equal(out[0, :, 0, :3], center.view(3, 1).expand(3, 3))
    assert torch.equal(out[0, :, 0, 3:], shifted[0, :, 0, 3:]) and torch.equal(out[0, :, 1], shifted[0, :, 1])


def test_contribution_crop_zeroes_small_values_per_channel():
    x = torch.tensor([-0.9, 0.05, 0.5, -0.2, 0.01, 0.3], dtype=torch.float64).view(1, 3, 1, 2)
    # |x| = .9 .05 .5 .2 .01 .3 ; 50th percentile = (0.2 + 0.3) / 2 = 0.25
    out = contribution_crop(x, 50)
    expected = torch.tensor([-0.9, 0.0, 0.5, 0.0, 0.0, 0.3], dtype=torch.float64).view(1, 3, 1, 2)
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    # per image: the second image's percentile is its own
    both = torch.cat([x, 10 * x])
    assert torch.equal(contribution_crop(both, 50)[1], 10 * expected[0])


def test_decay_shrinks_towards_the_centre():
    x = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64).view(1, 3, 1, 1)
    torch.testing.assert_close(decay(x, 0.1), 0.9 * x)
    torch.testing.assert_close(decay(x, 0.5, 0.5), torch.tensor([0.25, 0.75, 0.5], dtype=torch.float64).view(1, 3, 1, 1))


def test_model_space_of_known_preprocessings():
    center, scale = model_space(Normalize())
    torch.testing.assert_close(center, torch.tensor([0.485, 0.456, 0.406]))
    torch.testing.assert_close(scale, torch.tensor([0.229, 0.224, 0.225]))
    center, scale = model_space(ScaleShift(255 / 128, -127 / 128))
    torch.testing.assert_close(center, torch.full((3,), 127 / 255))
    torch.testing.assert_close(scale, torch.full((3,), 128 / 255))

    class Affine(torch.nn.Module):
        def forward(self, x):
            return 4 * x - torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)

    center, scale = model_space(Affine())
    torch.testing.assert_close(center, torch.tensor([0.25, 0.5, 0.75]))
    torch.testing.assert_close(scale, torch.full((3,), 0.25))


def test_warp_shifts_whole_pixels_rotates_and_zooms_about_the_centre():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4], x[0, 0, 2, 4] = 1.0, 0.5

    def move(shift_xy=(0.0, 0.0), degrees=0.0, zoom=1.0):
        shift = torch.tensor([shift_xy]) / 9  # pixels -> fractions of the side
        theta = affine_matrices(shift, torch.tensor([degrees]), torch.tensor([zoom]), size=(9, 9))
        return warp(x, theta)  # border="constant", fill=0

    torch.testing.assert_close(move(), x)
    moved = move((-1.0, 2.0))  # x -1, y +2
    assert float(moved[0, 0, 6, 3]) == pytest.approx(1.0) and float(moved[0, 0, 4, 3]) == pytest.approx(0.5)
    torch.testing.assert_close(move(degrees=90.0), torch.rot90(x, 1, (2, 3)), atol=1e-5, rtol=0)  # counter-clockwise
    zoomed = move(zoom=2.0)
    assert float(zoomed[0, 0, 4, 4]) == pytest.approx(1.0) and float(zoomed[0, 0, 0, 4]) > 0  # 2 px out -> 4 px



@pytest.mark.parametrize("border", ["symmetric", "replicate"])
def test_warp_borders_are_the_borders_of_pad2d(border):
    x = rand(1, 2, 5, 7)
    shift = torch.tensor([[2 / 7, -1 / 5]], dtype=torch.float64)  # 2 px right, 1 px up
    moved = warp(x, affine_matrices(shift, torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)), border)
    expected = pad2d(x, 0, 1, 2, 0, border)[..., 1:, :7]
    torch.testing.assert_close(moved, expected, atol=1e-12, rtol=0)


def test_a_rotation_keeps_right_angles_on_non_square_images():
    theta = affine_matrices(torch.zeros(1, 2), torch.tensor([90.0]), torch.ones(1), size=(4, 8))
    corner = torch.tensor([1.0, 1.0, 1.0])  # (u, v, 1) in normalized output coordinates of a 4 x 8 image
    u, v = (float(c) for c in theta[0] @ corner)  # where it samples from, normalized
    # in pixels from the centre (y down), output (4, 2) samples the input at (-2, 4): turned by 90 degrees, same
    # distance from the centre (without ``size`` the turn would be in normalized units: a shear on this image)
    assert (u * 4, v * 2) == (pytest.approx(-2.0), pytest.approx(4.0))


def test_check_border_names_the_choices():
    assert all(check_border(b) == b for b in BORDERS)
    with pytest.raises(ConfigError, match="border must be one of"):
        check_border("reflection")
    with pytest.raises(ConfigError, match="'constant'"):
        warp(torch.zeros(1, 1, 2, 2), torch.eye(2, 3).unsqueeze(0), border="wrap")

def test_spaces_round_trip():
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    center, step = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.5])
    torch.testing.assert_close(from_space(to_space(x, center, step), center, step), x)


def test_grown_size_rounds_like_opencv_and_caps():
    assert grown_size((50, 50), 1.2) == (60, 60)
    assert grown_size((300, 300), 1.005) == (301, 301)  # 300 * 1.005 = 301.4999... in doubles, as in OpenCV
    assert grown_size((86, 86), 1.2) == (103, 103)
    assert grown_size((99, 99), 1.005) == (99, 99)  # too small to grow by 0.5%: stays, as in midnite
    assert grown_size((100, 200), 2.0, max_size=300) == (150, 300)


def test_resize_images_keeps_a_constant_image():
    x = torch.full((2, 3, 10, 12), 0.4)
    out = resize_images(x, (15, 18))
    assert out.shape == (2, 3, 15, 18)
    torch.testing.assert_close(out, torch.full_like(out, 0.4))
