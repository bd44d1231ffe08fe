"""Fourier: the gradient reaches the spectrum; the default image is a Fourier image."""


from lit_actmax.core.seeding import unit_generator
from lit_actmax.params import Fourier, default_param


def test_fourier_gradient_reaches_the_spectrum():
    param = Fourier()
    param.reset([unit_generator(0, 0)], 16)
    param()[:, 0].mean().backward()
    assert param.spectrum.grad is not None and param.spectrum.grad.abs().sum() > 0


def test_the_default_image_is_fourier_with_a_steeper_spectrum():
    param = default_param()
    assert type(param) is Fourier and param.decay_power == 1.5 and param.decorrelate
