"""The frozen model and what it expects (:class:`Backbone`), and freezing a model and giving it back as it was."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from ..errors import BackboneError
from ..image.ops import as_hw
from .input_size import detect_fixed_input_size, resize_to
from .preprocessing import Normalize

__all__ = ["Backbone", "ModelState", "freeze"]


def freeze(model: nn.Module) -> nn.Module:
    """Freeze all parameters and put every submodule in eval mode (BatchNorm statistics never change)."""
    model.requires_grad_(False)
    model.eval()
    return model


@dataclass(frozen=True)
class ModelState:
    """What freezing changes on a model: each parameter's ``requires_grad`` and each submodule's ``training``.

    :func:`~lit_actmax.backbones.load_backbone` captures it for a model the user supplies (a
    ``"<module>:<callable>"`` or registered factory may return an object the user keeps using); the renderer freezes
    the model while it renders and :meth:`restore` gives it back as it was, on success and on failure.
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
        self.fixed_input_size = as_hw(self.fixed_input_size)

    @classmethod
    def from_module(cls, model: object, spec: str, *, users_own: bool) -> Backbone:
        """A plain ``nn.Module`` that ``spec`` built, with ImageNet normalization and the fixed input size its metadata
        states. ``users_own``: the user may keep using the object, so its :class:`ModelState` is kept to give back."""
        if not isinstance(model, nn.Module):
            raise BackboneError(f"Backbone spec {spec!r} returned {type(model).__name__}; it must return an nn.Module.")
        return cls(model=model, preprocess=Normalize(), spec=spec, user_state=ModelState.capture(model) if users_own else None,
                   fixed_input_size=detect_fixed_input_size(model))

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """``fixed_input_size`` as ``(h, w)``, or None when the model takes any size."""
        return as_hw(self.fixed_input_size)

    def model_input(self, images: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
        """Images (B, 3, h, w) in [0, 1] -> the model's input: resized to ``size`` (default: the fixed input size,
        if any) and preprocessed."""
        return self.preprocess(resize_to(images, as_hw(size) if size is not None else self.input_hw))
