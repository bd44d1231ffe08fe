"""Backbones by name: the built-in ``"lite0"`` ... ``"lite4"`` and every name :func:`register_backbone` adds.

A registered name is a spec of its own; :func:`~lit_actmax.backbones.load_backbone` calls its factory without
arguments.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from .backbone import Backbone
from .efficientnet_lite import LITE_VARIANTS, efficientnet_lite

__all__ = ["register_backbone", "registered_backbones", "registered_factory"]

BackboneFactory = Callable[..., Backbone | nn.Module]

_FACTORIES: dict[str, BackboneFactory] = {}


def register_backbone(name: str, factory: BackboneFactory) -> None:
    """Make ``name`` a valid spec; ``factory(**options)`` returns a ``Backbone`` or an ``nn.Module``."""
    _FACTORIES[name] = factory


def registered_backbones() -> list[str]:
    """The registered names, sorted."""
    return sorted(_FACTORIES)


def registered_factory(name: str) -> BackboneFactory | None:
    """The factory registered as ``name``, or None when no factory has that name."""
    return _FACTORIES.get(name)


for _variant in LITE_VARIANTS:
    register_backbone(f"lite{_variant}", efficientnet_lite(_variant))
