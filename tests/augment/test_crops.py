"""Scheduled crops: MultiCrop's boxes inside the image, large to small, one batched forward; RandomCrop's windows at
the image's own resolution."""

import pytest
import torch

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import Compose, MultiCrop, Noise, RandomCrop, schedule, set_progress
from lit_actmax.errors import ConfigError

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.mark.parametrize("shape", [(40, 40), (30, 52)])
def test_boxes_stay_inside_and_follow_the_schedule(gens, shape):
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


def test_a_crop_shows_the_right_part_of_the_image(gens):
    # a horizontal ramp: the crop's mean is the ramp's value at the box centre
    w = 64
    ramp = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 3, 48, w).contiguous()
    crop = MultiCrop(crops=8, size=16, start=(0.25, 0.5), end=(0.25, 0.5))
    out = crop(ramp, gens([0]))
    centre = (crop.last_boxes[0, :, 0] + crop.last_boxes[0, :, 2]) / 2
    expected = (centre - 0.5) / (w - 1)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), expected, atol=0.02, rtol=0)


def test_a_crop_does_not_depend_on_the_other_crops_of_its_batch(gens):
    """MultiCrop at a fixed output size supersamples each box by its own factor, not the batch's largest."""
    images = torch.rand(5, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    crop = MultiCrop(crops=2, start=(0.2, 1.0), end=(0.2, 1.0), size=12)
    together = crop(images, gens(range(5)))
    for i in range(5):
        alone = MultiCrop(crops=2, start=(0.2, 1.0), end=(0.2, 1.0), size=12)(images[i:i + 1], gens([i]))
        assert torch.equal(together[2 * i:2 * i + 2], alone), i
    assert together.shape == (10, 3, 12, 12)


def test_random_crop_shrinks_on_schedule_and_keeps_pixels_as_they_are(gens):
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


def test_overhanging_windows_reach_past_the_edge_into_the_mirror_image(gens):
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
