"""An ``ActMaxModule``'s hyperparameters as plain values, the way Lightning's conventions expect them.

``hparams.yaml`` and a checkpoint's ``hyper_parameters`` hold only what ``yaml.safe_load`` reads: every argument of
``ActMaxModule.__init__``, objects (objective, regularizers, parameterization, transforms, optimizer, numerics)
as jsonargparse's ``{class_path, init_args}`` (what a ``lit-actmax fit`` config says), with LightningCLI's
``_instantiator``, so ``ActMaxModule.load_from_checkpoint(path)`` rebuilds the same module from a Python run as from
a CLI run. An object is described by its constructor's arguments read back from attributes of the same name
(``name``, ``name_path``, ``_name``, or a settings object it holds); one that cannot be described (a lambda, a local
class) is saved as None, and loading then needs it passed again (``load_from_checkpoint(path, optimizer=...)``): the
checkpoint's fingerprint refuses a module whose settings differ, with one sentence, never a different picture.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import nn

from ..objectives.base import Sum
from .package import PACKAGE
from .package_choice import PACKAGES

if TYPE_CHECKING:
    from .module import ActMaxModule

__all__ = ["NotDescribable", "plain_config", "save_plain_hyperparameters", "instantiator"]

#: The largest tensor kept as a list in hyperparameters (a bigger one, e.g. direction vectors, is not saved).
MAX_TENSOR_VALUES = 4096


class NotDescribable(ValueError):
    """An argument value without a plain ``{class_path, init_args}`` form."""


def instantiator(package: str) -> str:
    """LightningCLI's module instantiator of ``package``, which ``load_from_checkpoint`` trusts."""
    return f"{PACKAGES[package][0]}.cli.instantiate_module"


def plain_config(value: Any) -> Any:
    """``value`` as YAML-safe values: plain values as they are, tensors as lists, functions and classes by import
    path, ``functools.partial`` and objects as ``{class_path, init_args}``.

    Raises:
        NotDescribable: a lambda, a local class, a large tensor, or an object whose class cannot be imported.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        if value.numel() > MAX_TENSOR_VALUES:
            raise NotDescribable(f"a tensor of {value.numel()} values")
        return value.detach().cpu().tolist()
    if isinstance(value, Mapping):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, nn.ModuleList)):
        return [plain_config(v) for v in value]
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return import_path(value)
    if isinstance(value, functools.partial):  # jsonargparse's OptimizerCallable: partial(..., Adam, lr=...)
        target = next((a for a in reversed(value.args) if isinstance(a, type)), value.func)
        return {"class_path": import_path(target), "init_args": plain_config(dict(value.keywords))}
    if isinstance(value, Sum):  # the objective algebra: Sum(terms=[(weight, objective), ...])
        return {"class_path": import_path(type(value)),
                "init_args": {"terms": [[w, plain_config(t)] for w, t in value.terms()]}}
    return {"class_path": import_path(type(value)), "init_args": object_arguments(value)}


def import_path(target: Any) -> str:
    """``module.Name`` of a class or function importable by that path."""
    qualname = getattr(target, "__qualname__", "")
    if "<" in qualname or not getattr(target, "__module__", None):
        raise NotDescribable(f"{qualname or target!r} cannot be imported by name")
    return f"{target.__module__}.{qualname}"


def object_arguments(obj: Any) -> dict[str, Any]:
    """The constructor arguments of ``obj`` that it keeps, as plain values."""
    if dataclasses.is_dataclass(obj):
        return {f.name: plain_config(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    try:
        parameters = list(inspect.signature(type(obj).__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    arguments = {}
    for parameter in (p for p in parameters if p.kind in kinds):
        found, value = kept_argument(obj, parameter.name)
        if found:
            arguments[parameter.name] = plain_config(value)
        elif parameter.default is inspect.Parameter.empty:
            raise NotDescribable(f"{type(obj).__qualname__} does not keep its argument {parameter.name!r}")
    return arguments


def kept_argument(obj: Any, name: str) -> tuple[bool, Any]:
    """Constructor argument ``name`` as ``obj`` keeps it: ``obj.name``, ``obj.name_path``, ``obj._name``, or ``name`` of
    a plain settings object it holds."""
    for attribute in (name, f"{name}_path", f"_{name}"):
        try:
            value = getattr(obj, attribute)
        except Exception:  # noqa: BLE001 - a property that cannot be read here is no setting
            continue
        if not callable(value) or isinstance(value, nn.Module):
            return True, value
    for held in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if not isinstance(held, (nn.Module, torch.Tensor, type)) and hasattr(held, "__dict__") and name in vars(held):
            return True, vars(held)[name]
    return False, None


def save_plain_hyperparameters(module: ActMaxModule, frame: types.FrameType) -> None:
    """Save the arguments of ``frame`` (``ActMaxModule.__init__``'s) as the module's hyperparameters, as plain values,
    with the instantiator ``load_from_checkpoint`` rebuilds the objects with."""
    code = frame.f_code
    names = code.co_varnames[1:code.co_argcount + code.co_kwonlyargcount]
    plain: dict[str, Any] = {}
    for name in names:
        value = frame.f_locals[name]
        try:
            plain[name] = value.describe() if name == "numerics" and value is not None else plain_config(value)
        except NotDescribable:
            plain[name] = None  # load_from_checkpoint needs it again; the fingerprint refuses a different module
    plain["_instantiator"] = instantiator(PACKAGE)
    if type(module).__name__ != "ActMaxModule":
        plain["_class_path"] = import_path(type(module))
    module.save_hyperparameters(plain)
