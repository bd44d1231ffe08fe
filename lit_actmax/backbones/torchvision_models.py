"""``"torchvision:<name>"``: any classification model of ``torchvision.models`` through torchvision's weights API.

``weights="DEFAULT"``, any weights enum name such as ``"IMAGENET1K_V1"``, or ``None`` (random weights). Pretrained
models are built by torchvision's own builder from torch hub's cache, downloading when the network allows it.
"""

from __future__ import annotations

from torch import nn

from ..errors import BackboneError
from .backbone import Backbone
from .imagenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_classes
from .input_size import detect_fixed_input_size
from .local_weights import random_weights_requested, torch_hub_checkpoints, url_filename
from .preprocessing import Normalize
from .spelling import did_you_mean

__all__ = ["load_torchvision"]


def load_torchvision(name: str, weights: str | None = "DEFAULT") -> Backbone:
    """The torchvision model ``name`` with ``weights``, normalized with its weights' statistics."""
    import torchvision.models as tvm

    available = tvm.list_models(module=tvm)
    if name not in available:
        raise BackboneError(f"torchvision has no classification model named {name!r}.{did_you_mean(name, available)}")
    weights_enum = None
    if not random_weights_requested(weights):
        try:
            weights_enum = tvm.get_model_weights(name)[str(weights)] if weights != "DEFAULT" else tvm.get_model_weights(name).DEFAULT
        except KeyError:
            names = [w.name for w in tvm.get_model_weights(name)]
            raise BackboneError(
                f"torchvision model {name!r} has no weights {weights!r}: use one of {names + ['DEFAULT', None]}."
            ) from None
    mean, std, input_size, categories = IMAGENET_MEAN, IMAGENET_STD, 224, imagenet_classes()
    if weights_enum is None:
        # googlenet / inception_v3 want these set explicitly when built without weights
        kwargs = {"init_weights": False, "aux_logits": False} if name in ("googlenet", "inception_v3") else {}
        model = tvm.get_model(name, weights=None, **kwargs)
    else:
        # Built by torchvision's own builder, so weight-specific settings (googlenet's transform_input,
        # the number of classes, dropped auxiliary heads) are applied exactly as torchvision does.
        model = _pretrained_model(name, weights_enum)
        categories = list(weights_enum.meta.get("categories") or []) or categories
        transforms = weights_enum.transforms()
        mean = tuple(getattr(transforms, "mean", mean))
        std = tuple(getattr(transforms, "std", std))
        input_size = int(getattr(transforms, "crop_size", [input_size])[0])
    return Backbone(
        model=model,
        preprocess=Normalize(mean, std),
        spec=f"torchvision:{name}",
        input_size=input_size,
        min_size=64 if name in ("alexnet",) else 32,
        class_names=categories,
        extra={"weights": None if weights_enum is None else weights_enum.name},
        fixed_input_size=detect_fixed_input_size(model),
    )


def _pretrained_model(name: str, weights_enum: object) -> nn.Module:
    """Build a pretrained torchvision model from torch hub's cache, downloading when the network allows it."""
    import torchvision.models as tvm

    url: str = weights_enum.url  # type: ignore[attr-defined]
    try:
        return tvm.get_model(name, weights=weights_enum)
    except OSError as error:  # URLError, HTTPError, socket errors: no network here
        raise BackboneError(
            f"The weights {weights_enum} of torchvision:{name} are not cached and could not be downloaded "
            f"({type(error).__name__}); put the file {url_filename(url)} (from {url}) into {torch_hub_checkpoints()}, "
            f"or pass weights=None for random weights."
        ) from None
