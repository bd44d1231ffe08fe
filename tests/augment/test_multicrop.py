"""Multi-crop + noise augmentation: boxes inside the image, large-to-small schedule, one batched forward."""

import pytest
import torch

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import (
    Compose,
    Jitter,
    MultiCrop,
    Noise,
    Pad,
    maco_transforms,
    per_row_generators,
    schedule,
    set_progress,
)
from lit_actmax.core.seeding import STREAM_AUGMENT, unit_generators

TINY = "lit_actmax.testing:tiny_backbone"


def gens(units, step=0):
    return unit_generators(0, list(units), [0] * len(units), STREAM_AUGMENT, step)


@pytest.mark.parametrize("shape", [(40, 40), (30, 52)])
def test_boxes_stay_inside_and_follow_the_schedule(shape):
    h, w = shape
    crop = MultiCrop(crops=16, size=12, start=(0.6, 1.0), end=(0.1, 0.3))
    images = torch.rand(3, 3, h, w)
    sides = []
    for progress in (0.0, 0.5, 1.0):
        set_progress(Compose([crop]), progress)
        low, high = crop.box_range()
        out = crop(images, gens([1, 2, 3]))
        assert out.shape == (3 * 16, 3, 12, 12)
        boxes = crop.last_boxes  # (B, crops, 4): x0, y0, x1, y1 in pixels
        assert boxes.shape == (3, 16, 4)
        assert (boxes[..., 0] >= 0).all() and (boxes[..., 1] >= 0).all()
        assert (boxes[..., 2] <= w + 1e-4).all() and (boxes[..., 3] <= h + 1e-4).all()
        side = boxes[..., 2] - boxes[..., 0]
        torch.testing.assert_close(side, boxes[..., 3] - boxes[..., 1])
        short = min(h, w)
        assert (side >= low * short - 1e-4).all() and (side <= high * short + 1e-4).all()
        sides.append(float(side.mean()))
    assert crop.box_range(0.0) == (0.6, 1.0) and crop.box_range(1.0) == pytest.approx((0.1, 0.3))
    assert crop.box_range(0.5) == pytest.approx((0.35, 0.65))
    assert sides[0] > sides[1] > sides[2], "boxes must shrink from large to small"


def test_schedules():
    assert schedule(1.0, 0.0, 0.25) == pytest.approx(0.75)
    assert schedule(1.0, 0.0, 0.25, "cosine") == pytest.approx(0.5 * (1 + 2**-0.5))
    assert schedule(1.0, 0.0, 0.9, "constant") == 1.0
    assert schedule(1.0, 0.0, 7.0) == 0.0  # clamped
    with pytest.raises(ValueError, match="schedule"):
        schedule(0, 1, 0.5, "step")
    with pytest.raises(ValueError, match="low <= high"):
        MultiCrop(start=(0.8, 0.5))
    with pytest.raises(ValueError, match="crops"):
        MultiCrop(crops=0)


def test_a_crop_shows_the_right_part_of_the_image():
    # a horizontal ramp: the crop's mean is the ramp's value at the box centre
    w = 64
    ramp = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 3, 48, w).contiguous()
    crop = MultiCrop(crops=8, size=16, start=(0.25, 0.5), end=(0.25, 0.5))
    out = crop(ramp, gens([0]))
    centre = (crop.last_boxes[0, :, 0] + crop.last_boxes[0, :, 2]) / 2
    expected = (centre - 0.5) / (w - 1)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), expected, atol=0.02, rtol=0)


def test_crops_and_noise_are_per_unit_and_gradients_flow():
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


def test_noise_statistics():
    x = torch.zeros(2, 3, 64, 64)
    gaussian = Noise(std=0.1, uniform=0.0)(x, gens([0, 1]))
    assert abs(float(gaussian.std()) - 0.1) < 0.005 and abs(float(gaussian.mean())) < 0.005
    uniform = Noise(std=0.0, uniform=0.2)(x, gens([0, 1]))
    assert float(uniform.min()) >= -0.1 and float(uniform.max()) <= 0.1 and float(uniform.std()) > 0.05
    assert Noise(0, 0)(x, gens([0, 1])) is x
    with pytest.raises(ValueError, match=">= 0"):
        Noise(std=-1)


def test_transforms_after_multicrop_get_one_generator_per_crop():
    images = torch.rand(2, 3, 24, 24)
    out = Compose([Pad(2), MultiCrop(crops=3, size=12), Jitter(2)])(images, gens([0, 1]))
    assert out.shape == (6, 3, 10, 10)
    assert len(per_row_generators(out, gens([0, 1]))) == 6
    with pytest.raises(ValueError, match="cannot be split"):
        per_row_generators(torch.zeros(5, 3, 2, 2), gens([0, 1]))


def test_module_averages_the_objective_over_crops_and_advances_the_schedule(tmp_path, make_trainer):
    crop = MultiCrop(crops=3, size=24, start=(0.8, 1.0), end=(0.3, 0.4))
    seen = []

    class Spy(MultiCrop):
        def forward(self, images, generators):
            out = super().forward(images, generators)
            seen.append((self.progress, images.shape[0], out.shape[0]))
            return out

    spy = Spy(crops=3, size=24, start=crop.start, end=crop.end)
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-1", size=32, batch_size=2,
                          steps_per_epoch=3, epochs=2, transforms=Compose([spy, Noise(0.02, 0.02)]), save_outputs=False)
    make_trainer().fit(module)
    progress = [p for p, _, _ in seen[1:]]  # seen[0] is the dry run at construction
    assert progress == pytest.approx([i / 5 for i in range(6)])
    assert all(rows == 2 and out == 6 for _, rows, out in seen[1:])
    assert module.last_finished.activations.shape == (2,)


def test_diversity_compares_variants_not_the_crops_of_one_image():
    from lit_actmax.objectives import Diversity, RenderBatch

    acts = torch.rand(6, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    units = torch.tensor([5, 5, 5, 5, 5, 5])
    one_variant = RenderBatch(acts={"l": acts}, units=units, variants=torch.zeros(6, dtype=torch.long))
    assert (Diversity("l")(one_variant) == 0).all(), "crops of a single image are not variants"
    two = RenderBatch(acts={"l": acts}, units=units, variants=torch.tensor([0, 0, 0, 1, 1, 1]))
    assert (Diversity("l")(two) < 0).all()


def test_lucid_multicrop_transforms_gives_each_image_its_crops_at_the_jittered_side():
    from lit_actmax.augment import lucid_multicrop_transforms

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
