"""The transform sets of the named methods: per-image randomness, the views each makes."""

import torch

from lit_actmax.augment import (
    Jitter,
    MultiCrop,
    RandomCrop,
    lucid_multicrop_transforms,
    lucid_transforms,
    maco_transforms,
    mirrored_lucid_transforms,
    natural_transforms,
    set_progress,
)


def test_each_image_gets_its_own_randomness_independent_of_the_batch(gens):
    torch.manual_seed(0)
    x = torch.rand(3, 3, 24, 24)
    transform = lucid_transforms()
    together = transform(x, gens([5, 6, 7], step=3))
    alone = transform(x[1:2], gens([6], step=3))
    assert torch.allclose(together[1:2], alone, atol=1e-6)
    assert not torch.allclose(together[0], together[1])


def test_crops_and_noise_are_per_unit_and_gradients_flow(gens):
    transform = maco_transforms(crops=4, size=16, noise=0.1)
    images = torch.rand(3, 3, 32, 32, requires_grad=True)
    out = transform(images, gens([7, 8, 9]))
    assert out.shape == (12, 3, 16, 16)
    alone = transform(images[1:2], gens([8]))
    torch.testing.assert_close(out[4:8], alone)  # image 1's crops do not depend on its batch neighbours
    out.sum().backward()
    assert images.grad.abs().sum() > 0
    again = transform(images, gens([7, 8, 9], step=1))
    assert not torch.allclose(out, again)


def test_lucid_multicrop_transforms_gives_each_image_its_crops_at_the_jittered_side(gens):
    transform = lucid_multicrop_transforms(crops=3)
    images = torch.rand(2, 3, 40, 40, requires_grad=True)
    set_progress(transform, 1.0)
    out = transform(images, gens([0, 1]))
    # pad 12 -> 64, jitter 8 -> 56: each crop is resized back to the side of the image it was cut from
    assert out.shape == (6, 3, 56, 56)
    crop = next(t for t in transform.transforms if isinstance(t, MultiCrop))
    sides = crop.last_boxes[..., 2] - crop.last_boxes[..., 0]
    assert ((sides >= 0.6 * 56 - 1e-3) & (sides <= 0.9 * 56 + 1e-3)).all()  # the end of the schedule
    assert not torch.allclose(out[0], out[1])  # two crops of one image differ (and so does their noise)
    out.mean().backward()
    assert images.grad.abs().sum() > 0


def test_the_default_and_lucids_mirrored_set_share_their_geometry():
    natural, mirrored = natural_transforms(), mirrored_lucid_transforms()
    assert [type(t) for t in natural.transforms[:4]] == [type(t) for t in mirrored.transforms[:4]]
    assert natural.transforms[0].mode == "reflect" and natural.transforms[2].border == "symmetric"
    assert isinstance(natural.transforms[-1], RandomCrop) and natural.transforms[-1].overhang
    assert isinstance(mirrored.transforms[-1], Jitter) and mirrored.transforms[-1].d == 4
