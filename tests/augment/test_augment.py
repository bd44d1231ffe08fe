import pytest
import torch

from lit_actmax.augment import (
    Compose,
    Jitter,
    Pad,
    RandomAffine,
    RandomCrop,
    RandomRotate,
    RandomScale,
    lucid_transforms,
    set_progress,
)
from lit_actmax.core.seeding import STREAM_AUGMENT, unit_generators
from lit_actmax.errors import ConfigError


def gens(units, step=0):
    return unit_generators(0, units, [0] * len(units), STREAM_AUGMENT, step)


def test_pad_and_jitter_sizes():
    x = torch.rand(2, 3, 16, 16)
    assert Pad(4)(x, gens([0, 1])).shape == (2, 3, 24, 24)
    assert Pad(4)(x, gens([0, 1]))[0, :, 0, 0].eq(0.5).all()
    assert Jitter(3)(x, gens([0, 1])).shape == (2, 3, 13, 13)


def test_jitter_is_a_crop_at_a_per_image_offset():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(2, 3, 1, 1)
    out = Jitter(2)(x, gens([0, 1]))
    for b in range(2):
        # find the offset: the top-left value v = 4 * oy + ox
        v = int(out[b, 0, 0, 0])
        oy, ox = divmod(v, 4)
        assert torch.equal(out[b], x[b, :, oy:oy + 2, ox:ox + 2])


def test_each_image_gets_its_own_randomness_independent_of_the_batch():
    torch.manual_seed(0)
    x = torch.rand(3, 3, 24, 24)
    transform = lucid_transforms()
    together = transform(x, gens([5, 6, 7], step=3))
    alone = transform(x[1:2], gens([6], step=3))
    assert torch.allclose(together[1:2], alone, atol=1e-6)
    assert not torch.allclose(together[0], together[1])


def test_affine_keeps_size_and_is_differentiable():
    x = torch.rand(2, 3, 20, 20, requires_grad=True)
    out = Compose([RandomScale(), RandomRotate(), RandomAffine(shift=0.1)])(x, gens([0, 1]))
    assert out.shape == x.shape
    out.mean().backward()
    assert x.grad.abs().sum() > 0


def test_identity_affine_returns_the_input():
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(RandomAffine()(x, gens([0])), x)


def test_rotation_moves_pixels_and_fills_grey():
    x = torch.zeros(1, 3, 21, 21)
    x[..., 10, :] = 1.0  # a horizontal line
    out = RandomAffine(degrees=[90.0])(x, gens([0]))
    assert out[0, 0, :, 10].mean() > 0.8  # now vertical
    corner = RandomAffine(scales=[0.5])(torch.zeros(1, 3, 20, 20), gens([0]))
    assert torch.allclose(corner[0, :, 0, 0], torch.full((3,), 0.5))


def test_an_image_that_does_not_move_is_not_resampled_whatever_its_batch_holds():
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


def test_a_crop_does_not_depend_on_the_other_crops_of_its_batch():
    """MultiCrop at a fixed output size supersamples each box by its own factor, not the batch's largest."""
    from lit_actmax.augment import MultiCrop

    images = torch.rand(5, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    crop = MultiCrop(crops=2, start=(0.2, 1.0), end=(0.2, 1.0), size=12)
    together = crop(images, gens(range(5)))
    for i in range(5):
        alone = MultiCrop(crops=2, start=(0.2, 1.0), end=(0.2, 1.0), size=12)(images[i:i + 1], gens([i]))
        assert torch.equal(together[2 * i:2 * i + 2], alone), i
    assert together.shape == (10, 3, 12, 12)


def test_a_zoomed_out_view_mirrors_the_image_instead_of_grey_when_asked():
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    grey = RandomAffine(scales=[0.5])(x, gens([0]))
    mirrored = RandomAffine(scales=[0.5], border="symmetric")(x, gens([0]))
    assert torch.allclose(grey[0, :, 0, 0], torch.full((3,), 0.5))
    assert not torch.allclose(mirrored[0, :, :3, :3], torch.full_like(mirrored[0, :, :3, :3], 0.5), atol=0.05)
    assert torch.allclose(grey[0, :, 5:15, 5:15], mirrored[0, :, 5:15, 5:15])  # the image itself is the same
    assert RandomRotate(border="replicate").border == "replicate"
    with pytest.raises(ConfigError, match="border must be one of"):
        RandomScale(border="wrap")


def test_random_crop_shrinks_on_schedule_and_keeps_pixels_as_they_are():
    x = torch.arange(400.0).view(1, 1, 20, 20).repeat(2, 3, 1, 1)
    crop = RandomCrop(start=1.0, end=0.5, multiple=1)
    assert crop(x, gens([0, 1])).shape == (2, 3, 20, 20)  # progress 0: the whole image
    set_progress(crop, 0.5)
    assert crop.side(20) == 15
    set_progress(crop, 1.0)
    out = crop(x, gens([0, 1]))
    assert out.shape == (2, 3, 10, 10)
    for b in range(2):  # a window of the image, not a resampled box: the top-left value gives the offset
        oy, ox = divmod(int(out[b, 0, 0, 0]), 20)
        assert torch.equal(out[b], x[b, :, oy:oy + 10, ox:ox + 10])
    alone = crop(x[1:2], gens([1]))
    assert torch.equal(alone, out[1:2])  # an image's window does not depend on its batch
    with pytest.raises(ConfigError, match="fraction of the image side"):
        RandomCrop(start=1.5)
    # by default sides are multiples of 8 (lite0's CPU kernels depend on the batch at some other sizes)
    assert [RandomCrop(1.0, 0.6).side(240, p) for p in (0.0, 0.5, 1.0)] == [240, 192, 144]
    assert RandomCrop(0.6, 0.6).side(100) == 64 and RandomCrop(0.03, 0.03).side(100) == 3


def test_overhanging_windows_reach_past_the_edge_into_the_mirror_image():
    x = torch.arange(400.0).view(1, 1, 20, 20).repeat(64, 3, 1, 1)
    crop = RandomCrop(start=0.5, end=0.5, overhang=True, multiple=1)
    out = crop(x, gens(range(64)))
    assert out.shape == (64, 3, 10, 10)
    padded = torch.nn.functional.pad(x[:1], [5] * 4, mode="reflect")[0]
    for b in range(64):  # every window is a window of the mirrored image
        assert any(torch.equal(out[b], padded[:, oy:oy + 10, ox:ox + 10]) for oy in range(21) for ox in range(21))
    # corners: some windows hold the image's corner pixel (value 0) in their interior, mirrored around it
    assert any(bool((out[b, 0, 1:-1, 1:-1] == 0).any()) for b in range(64))
    inside = RandomCrop(start=0.5, end=0.5, multiple=1)(x, gens(range(64)))
    assert not any(bool((inside[b, 0, 1:-1, 1:-1] == 0).any()) for b in range(64))
