"""``"<module>:<callable>"``: a user's model; the callable, called without arguments, returns an ``nn.Module``
(optionally a :class:`~lit_actmax.backbones.Backbone`). ``<callable>`` may be dotted (``Class.build``)."""

from __future__ import annotations

import importlib
import inspect

from torch import nn

from ..errors import BackboneError
from .backbone import Backbone

__all__ = ["load_user_callable"]


def load_user_callable(spec: str, **options: object) -> Backbone | nn.Module:
    """Import ``<module>``, find ``<callable>`` in it and call it with ``options``; one sentence for each way that
    fails before the call (module, attribute, not callable, required arguments)."""
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
