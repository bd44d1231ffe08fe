"""Backbone spec strings -> a frozen :class:`Backbone`: the one door, :func:`load_backbone`.

Spec strings, each read by the loader of its kind (the first that matches):

- a registered name (:mod:`~lit_actmax.backbones.registry`): ``"lite0"``, the embedded default,
  ImageNet-pretrained EfficientNet-Lite0 that works offline, ``"lite1"`` ... ``"lite4"``
  (:mod:`~lit_actmax.backbones.efficientnet_lite`), and whatever :func:`register_backbone` added;
- ``"<prefix>:<name>"`` of :data:`PREFIX_LOADERS`: ``"torchvision:<name>"`` (torchvision's weights API:
  ``weights="DEFAULT"``, a weights enum name such as ``"IMAGENET1K_V1"``, or ``None``), and the optional extras
  ``"timm:<name>"``, ``"open_clip:<arch>[:<tag>]"``, ``"transformers:<folder or cached name>"`` (``pip install
  'lit_actmax[timm]'``, ``[clip]``, ``[transformers]``; their own preprocessing; pretrained weights from the local
  cache only, random ones with ``weights=None``);
- ``"<path>.ckpt"``: a LightningModule checkpoint, with ``checkpoint_class="package.module.ClassName"``;
- ``"<module>:<callable>"``: a user model; the callable returns an ``nn.Module`` (optionally a ``Backbone``).

Fixed-input models: ``Backbone.fixed_input_size`` is the one input size a model accepts (torchvision's and timm's
ViTs, timm's Swin and DeiT, open_clip image towers, transformers ViTs; None for models that take any size, such as
CNNs and torchvision's Swin). The renderer resizes its augmented views to it unless ``input_size`` is given, so
``size`` stays the size of the image the user wants; :meth:`Backbone.model_input` does the same for one batch.
"""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from ..errors import BackboneError
from .backbone import Backbone, freeze
from .imagenet import IMAGENET_MEAN, IMAGENET_STD
from .lightning_checkpoint import load_lightning_checkpoint
from .open_clip_models import load_open_clip
from .preprocessing import Normalize
from .registry import registered_backbones, registered_factory
from .spelling import did_you_mean
from .timm_models import load_timm
from .torchvision_models import load_torchvision
from .transformers_models import load_transformers
from .user_callable import load_user_callable

__all__ = ["PREFIX_LOADERS", "build_from_spec", "load_backbone"]

#: ``"<prefix>:<name>"`` specs: prefix -> ``loader(name, weights)``.
PREFIX_LOADERS: dict[str, Callable[[str, str | None], Backbone]] = {
    "torchvision": load_torchvision,
    "timm": load_timm,
    "open_clip": load_open_clip,
    "transformers": load_transformers,
}


def build_from_spec(spec: str, weights: str | None = "DEFAULT", checkpoint_class: str | None = None) -> Backbone | nn.Module:
    """What the loader of ``spec``'s kind builds (see the module docstring for the kinds, in the order tried)."""
    prefix, colon, name = spec.partition(":")
    factory = registered_factory(spec)
    if factory is not None:
        return factory()
    if colon and prefix in PREFIX_LOADERS:
        return PREFIX_LOADERS[prefix](name, weights)
    if spec.endswith(".ckpt"):
        return load_lightning_checkpoint(spec, checkpoint_class)
    if colon:
        return load_user_callable(spec)
    known = registered_backbones()
    raise BackboneError(
        f"Unknown backbone spec {spec!r}.{did_you_mean(spec, known)} Use one of {known}, 'torchvision:<name>', "
        "'<module>:<callable>' or a Lightning '<path>.ckpt'."
    )


def load_backbone(
    spec: str = "lite0",
    weights: str | None = "DEFAULT",
    checkpoint_class: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    input_size: int | None = None,
) -> Backbone:
    """Build the frozen backbone named by ``spec`` (see the module docstring).

    ``mean``/``std`` override the preprocessing (default: the model's own, ImageNet statistics for user models);
    ``input_size`` overrides the nominal input resolution.
    """
    if not isinstance(spec, str) or not spec:
        raise BackboneError(f"A backbone spec must be a non-empty string, got {spec!r}.")
    built = build_from_spec(spec, weights, checkpoint_class)
    if isinstance(built, Backbone):
        backbone = built
        backbone.spec = spec
    else:  # the user's own model (a registered factory's or a callable's): its state is given back after rendering
        backbone = Backbone.from_module(built, spec, users_own=True)
    for name, values in (("mean", mean), ("std", std)):
        if values is not None and (len(values) != 3 or (name == "std" and min(values) <= 0)):
            raise BackboneError(
                f"{name} must be three numbers, one per RGB channel{' and all positive' if name == 'std' else ''}, "
                f"got {list(values)}."
            )
    if mean is not None or std is not None:
        backbone.preprocess = Normalize(mean or IMAGENET_MEAN, std or IMAGENET_STD)
    if input_size is not None:
        backbone.input_size = int(input_size)
    freeze(backbone.model)
    return backbone
