"""Compose and the per-image generators: after a transform that makes several views, one generator per view."""

import pytest
import torch

import lit_actmax.augment as augment
from lit_actmax.augment import Compose, Jitter, MultiCrop, Pad, choice, per_row_generators, uniform


def test_transforms_after_multicrop_get_one_generator_per_crop(gens):
    images = torch.rand(2, 3, 24, 24)
    out = Compose([Pad(2), MultiCrop(crops=3, size=12), Jitter(2)])(images, gens([0, 1]))
    assert out.shape == (6, 3, 10, 10)
    assert len(per_row_generators(out, gens([0, 1]))) == 6
    with pytest.raises(ValueError, match="cannot be split"):
        per_row_generators(torch.zeros(5, 3, 2, 2), gens([0, 1]))


def test_seeded_draws_come_from_the_generator_alone():
    draws = [uniform(torch.Generator().manual_seed(5), -1.0, 1.0) for _ in range(2)]
    assert draws[0] == draws[1] and -1.0 <= draws[0] < 1.0
    assert choice(torch.Generator().manual_seed(5), [3.0]) == 3.0


def test_the_package_names_every_public_name_of_its_modules():
    from lit_actmax.augment import base, crops, geometry, photometric, sets

    modules = (base, crops, geometry, photometric, sets)
    names = {name for module in modules for name in module.__all__}
    assert names == set(augment.__all__) and len(augment.__all__) == len(names)
    for module in modules:
        assert all(getattr(augment, n) is getattr(module, n) for n in module.__all__), module
