"""preprocessing.py: images in [0, 1] -> model input."""

import torch

from lit_actmax.backbones.imagenet import IMAGENET_MEAN, IMAGENET_STD
from lit_actmax.backbones.preprocessing import Normalize, ScaleShift


def test_normalize_per_channel_in_the_images_dtype():
    x = torch.full((1, 3, 2, 2), 0.75, dtype=torch.float64)
    y = Normalize([0.5, 0.25, 0.0], [0.25, 0.5, 1.0])(x)
    assert y.dtype == torch.float64
    assert y[0, :, 0, 0].tolist() == [1.0, 1.0, 0.75]
    default = Normalize()
    assert torch.allclose(default.mean.flatten(), torch.tensor(IMAGENET_MEAN))
    assert torch.allclose(default.std.flatten(), torch.tensor(IMAGENET_STD))
    assert "mean=" in repr(default) and not default.state_dict()  # buffers are not saved


def test_scale_shift_is_efficientnet_lite_s_input_scaling():
    lite = ScaleShift(255 / 128, -127 / 128)
    assert torch.allclose(lite(torch.tensor([0.0, 1.0])), torch.tensor([-127 / 128, 1.0]))
    assert "scale=" in repr(lite)
