"""Image parameterizations: learnable parameters -> a batch of RGB images (N, 3, H, W) in [0, 1], and back.

Every parameterization can

- ``reset(generators, size)``: (re)initialize N images, each from its own generator (seeded per unit);
- ``forward()``: produce the images (differentiable);
- ``set_image(images)``: write given images into the parameters, so ``forward()`` returns them (callbacks
  use this to blur, crop or resize the current images whatever the parameterization);
- ``resize(size)``: change the resolution, keeping the picture.

The ``nn.Parameter`` objects stay the same across ``reset``/``resize`` (only ``.data`` changes), so the
optimizer keeps pointing at them; drop their optimizer state after a reset or a resize.

The package: :mod:`.base` (the contract, squashing, colour decorrelation), :mod:`.pixel`, :mod:`.fourier` (and
:func:`default_param`), :mod:`.maco`, and :mod:`.spectrum` (the natural-image statistics MACO draws from).
"""

from .base import (
    COLOR_CORRELATION_SVD_SQRT,
    ChannelMix,
    ImageParam,
    decorrelated_to_rgb,
    mix_channels,
    per_image_draws,
    rgb_to_decorrelated,
    squash,
    unsquash,
)
from .fourier import Fourier, default_param
from .maco import Maco, hermitian_part, hermitian_phase, rfft2_energy
from .pixel import Pixel

__all__ = [
    "ImageParam",
    "Pixel",
    "Fourier",
    "default_param",
    "COLOR_CORRELATION_SVD_SQRT",
    "decorrelated_to_rgb",
    "rgb_to_decorrelated",
    "mix_channels",
    "ChannelMix",
    "squash",
    "unsquash",
    "per_image_draws",
    "Maco",
    "hermitian_part",
    "hermitian_phase",
    "rfft2_energy",
]
