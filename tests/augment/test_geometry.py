"""Pad, Jitter and the random affine warps: sizes, per-image offsets, grey or mirrored borders."""

import pytest
import torch
import torch.nn.functional as F

from lit_actmax.augment import Compose, Jitter, Pad, RandomAffine, RandomRotate, RandomScale, random_crops
from lit_actmax.augment.geometry import mirrored_window
from lit_actmax.errors import ConfigError


def test_pad_and_jitter_sizes(gens):
    x = torch.rand(2, 3, 16, 16)
    assert Pad(4)(x, gens([0, 1])).shape == (2, 3, 24, 24)
    assert Pad(4)(x, gens([0, 1]))[0, :, 0, 0].eq(0.5).all()
    assert Jitter(3)(x, gens([0, 1])).shape == (2, 3, 13, 13)


def test_jitter_is_a_crop_at_a_per_image_offset(gens):
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(2, 3, 1, 1)
    out = Jitter(2)(x, gens([0, 1]))
    for b in range(2):
        # find the offset: the top-left value v = 4 * oy + ox
        v = int(out[b, 0, 0, 0])
        oy, ox = divmod(v, 4)
        assert torch.equal(out[b], x[b, :, oy:oy + 2, ox:ox + 2])


@pytest.mark.parametrize("side", [6, 7, 12])
def test_a_mirrored_window_equals_padding_the_whole_image_then_cropping_values_and_gradients_bit_for_bit(side):
    """Every offset of a ``side`` window over a 12 x 13 image mirrored by ``side // 2``: the window and the gradient
    it sends back are exactly those of ``F.pad(reflect)`` on the whole image followed by a slice."""
    torch.manual_seed(0)
    image = torch.rand(3, 12, 13, dtype=torch.float32)
    upstream = torch.rand(3, side, side)
    reflect = side // 2
    for top in range(-reflect, 12 + reflect - side + 1):
        for left in range(-reflect, 13 + reflect - side + 1):
            ours = image.clone().requires_grad_(True)
            window = mirrored_window(ours, top, left, side, side)
            (window * upstream).sum().backward()
            theirs = image.clone().requires_grad_(True)
            padded = F.pad(theirs.unsqueeze(0), [reflect] * 4, mode="reflect")[0]
            expected = padded[:, top + reflect:top + reflect + side, left + reflect:left + reflect + side]
            (expected * upstream).sum().backward()
            assert torch.equal(window, expected) and torch.equal(ours.grad, theirs.grad), (top, left)


def test_random_crops_draw_each_offset_from_the_images_own_generator_and_give_channels_last(gens):
    x = torch.rand(3, 3, 20, 20)
    together = random_crops(x, gens([4, 5, 6]), 10, 10, reflect=5)
    alone = random_crops(x[1:2], gens([5]), 10, 10, reflect=5)
    assert torch.equal(together[1], alone[0]) and together.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="a side or more past"):
        mirrored_window(x[0], -20, 0, 10, 10)


def test_affine_keeps_size_and_is_differentiable(gens):
    x = torch.rand(2, 3, 20, 20, requires_grad=True)
    out = Compose([RandomScale(), RandomRotate(), RandomAffine(shift=0.1)])(x, gens([0, 1]))
    assert out.shape == x.shape
    out.mean().backward()
    assert x.grad.abs().sum() > 0


def test_identity_affine_returns_the_input(gens):
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(RandomAffine()(x, gens([0])), x)


def test_rotation_moves_pixels_and_fills_grey(gens):
    x = torch.zeros(1, 3, 21, 21)
    x[..., 10, :] = 1.0  # a horizontal line
    out = RandomAffine(degrees=[90.0])(x, gens([0]))
    assert out[0, 0, :, 10].mean() > 0.8  # now vertical
    corner = RandomAffine(scales=[0.5])(torch.zeros(1, 3, 20, 20), gens([0]))
    assert torch.allclose(corner[0, :, 0, 0], torch.full((3,), 0.5))


def test_an_image_that_does_not_move_is_not_resampled_whatever_its_batch_holds(gens):
    """A warp by the identity is not exactly the identity, so skipping it must depend on the image's own draw: an
    image drawn still comes back unchanged even when another image of its batch rotates."""
    still_and_moving = RandomAffine(degrees=(0.0, 30.0))
    images = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    generators = gens(range(6), step=3)
    draws = [RandomAffine(degrees=(0.0, 30.0))(images[i:i + 1], gens([i], step=3)) for i in range(6)]
    out = still_and_moving(images, generators)
    assert any(torch.equal(d, images[i:i + 1]) for i, d in enumerate(draws))  # some image was drawn still ...
    assert any(not torch.equal(d, images[i:i + 1]) for i, d in enumerate(draws))  # ... and some moved
    for i, alone in enumerate(draws):
        assert torch.equal(out[i:i + 1], alone), i


def test_a_zoomed_out_view_mirrors_the_image_instead_of_grey_when_asked(gens):
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    grey = RandomAffine(scales=[0.5])(x, gens([0]))
    mirrored = RandomAffine(scales=[0.5], border="symmetric")(x, gens([0]))
    assert torch.allclose(grey[0, :, 0, 0], torch.full((3,), 0.5))
    assert not torch.allclose(mirrored[0, :, :3, :3], torch.full_like(mirrored[0, :, :3, :3], 0.5), atol=0.05)
    assert torch.allclose(grey[0, :, 5:15, 5:15], mirrored[0, :, 5:15, 5:15])  # the image itself is the same
    assert RandomRotate(border="replicate").border == "replicate"
    with pytest.raises(ConfigError, match="border must be one of"):
        RandomScale(border="wrap")
