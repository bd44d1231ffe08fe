"""The parameterization contract, for every parameterization: seeded RGB images in [0, 1], set_image, resize; the
colour mixing they share."""

import pytest
import torch

import lit_actmax.params as params
from lit_actmax.core.seeding import unit_generator
from lit_actmax.params import (
    COLOR_CORRELATION_SVD_SQRT,
    Fourier,
    Pixel,
    decorrelated_to_rgb,
    per_image_draws,
    rgb_to_decorrelated,
)


def gens(*units):
    return [unit_generator(0, u) for u in units]


@pytest.mark.parametrize("param", [Pixel(), Pixel(decorrelate=True), Pixel(activation="clamp"), Fourier(), Fourier(decay_power=1.5)])
def test_images_are_rgb_in_unit_range_and_seeded_per_unit(param):
    param.reset(gens(3, 4), 24)
    images = param()
    assert images.shape == (2, 3, 24, 24) and images.min() >= 0 and images.max() <= 1
    first = images.detach().clone()
    param.reset(gens(4, 3), 24)  # same units in another order: same images, swapped
    assert torch.allclose(param()[0], first[1]) and torch.allclose(param()[1], first[0])


@pytest.mark.parametrize("param", [Pixel(), Pixel(decorrelate=True), Fourier(), Fourier(decorrelate=False)])
def test_set_image_round_trips(param):
    param.reset(gens(0, 1), (20, 28))
    target = torch.rand(2, 3, 20, 28) * 0.9 + 0.05
    param.set_image(target)
    assert torch.allclose(param(), target, atol=1e-4)


@pytest.mark.parametrize("param", [Pixel(), Fourier()])
def test_resize_keeps_the_parameter_object_and_the_picture(param):
    param.reset(gens(0), 16)
    param.set_image(torch.linspace(0.1, 0.9, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16).contiguous())
    tensor = next(param.parameters())
    param.resize(32)
    assert next(param.parameters()) is tensor and param().shape == (1, 3, 32, 32)
    row = param()[0, 0, 16]
    assert row[0] < 0.2 and row[-1] > 0.8 and (row[1:] >= row[:-1] - 1e-3).all()


def test_bad_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        Pixel(activation="tanh")


def test_per_image_draws_take_image_i_from_generator_i():
    together = per_image_draws(gens(3, 4), (3, 2, 2))
    alone = per_image_draws(gens(4), (3, 2, 2))
    assert together.shape == (2, 3, 2, 2) and torch.equal(together[1:], alone)
    uniform = per_image_draws(gens(3), (100,), torch.rand)
    assert 0 <= float(uniform.min()) and float(uniform.max()) < 1
    assert per_image_draws([], (3, 4)).shape == (0, 3, 4)


def test_the_package_names_every_public_name_of_its_modules():
    from lit_actmax.params import base, fourier, maco, pixel

    modules = (base, fourier, maco, pixel)
    names = {name for module in modules for name in module.__all__}
    assert names == set(params.__all__) and len(params.__all__) == len(names)
    for module in modules:
        assert all(getattr(params, n) is getattr(module, n) for n in module.__all__), module


def test_colour_mixing_is_the_matrix_product_and_gives_an_image_the_same_bits_in_any_batch():
    torch.manual_seed(0)
    matrix = COLOR_CORRELATION_SVD_SQRT
    batch = torch.randn(5, 3, 24, 24, requires_grad=True)
    mixed = decorrelated_to_rgb(batch, matrix)
    torch.testing.assert_close(mixed, torch.einsum("nchw,dc->ndhw", batch, matrix))
    torch.testing.assert_close(rgb_to_decorrelated(mixed, matrix), batch)
    upstream = torch.randn_like(mixed)
    (mixed * upstream).sum().backward()
    for row in range(5):  # alone, the image and its gradient have the bits it had in the batch
        alone = batch.detach()[row:row + 1].clone().requires_grad_(True)
        out = decorrelated_to_rgb(alone, matrix)
        (out * upstream[row:row + 1]).sum().backward()
        assert torch.equal(out[0], mixed[row]) and torch.equal(alone.grad[0], batch.grad[row])
