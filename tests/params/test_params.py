import pytest
import torch

from lit_actmax.core.seeding import unit_generator
from lit_actmax.params import Fourier, Pixel


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


def test_fourier_gradient_reaches_the_spectrum():
    param = Fourier()
    param.reset(gens(0), 16)
    param()[:, 0].mean().backward()
    assert param.spectrum.grad is not None and param.spectrum.grad.abs().sum() > 0


def test_bad_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        Pixel(activation="tanh")


@pytest.mark.parametrize("width", [16, 15])
def test_rfft2_energy_is_the_sum_of_squares_over_pixels(width):
    from lit_actmax.params import rfft2_energy

    x = torch.randn(2, 3, 12, width, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spectrum = torch.fft.rfft2(x, norm="ortho")
    torch.testing.assert_close(rfft2_energy(spectrum, width), x.pow(2).sum(dim=(-2, -1)))
    torch.testing.assert_close(rfft2_energy(spectrum.abs(), width), x.pow(2).sum(dim=(-2, -1)))
