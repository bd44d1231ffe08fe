"""What an ``ActMaxModule`` checkpoint holds beyond Lightning's own state, and what it leaves out.

The frozen backbone is never saved (it is rebuilt from its spec, which is saved); the image parameters, the
optimizer state and the callbacks' states are. :class:`RunState` is the ``"actmax"`` entry: the backbone spec, the
run folder to keep writing into (absolute), the group being rendered, the image shape, the batch size and the run's
*fingerprint*: everything that decides the images (:func:`fingerprint`), so that a resume with other settings is
refused with the differences named (:func:`fingerprint_differences`, :func:`describe_differences`) instead of
mixing two configurations in one run folder. On load the backbone's own weights are put back into the state dict,
so Lightning's strict loading still checks every other key, and the image parameters take the checkpoint's shape
before Lightning copies them.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import pickle
import re
import types
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..core.numerics import same_images_numerics
from ..errors import ConfigError
from ..moved import current_name
from .storage import is_url, location

__all__ = [
    "CHECKPOINT_KEY", "FROZEN_PREFIXES", "LEGACY_PREFIXES", "RunState", "drop_frozen", "restore_frozen",
    "rename_legacy_keys", "match_parameter_shapes", "describe_setting", "fingerprint", "fingerprint_differences",
    "describe_differences", "check_checkpoint_file", "current_settings", "resume_differences", "resume_refusal",
]

#: The checkpoint entry holding :class:`RunState`.
CHECKPOINT_KEY = "actmax"
#: State-dict prefixes of the frozen backbone and its preprocessing (kept out of checkpoints).
FROZEN_PREFIXES = ("renderer.backbone.", "renderer.preprocess.")
#: State-dict prefixes of checkpoints written before the module held a ``Renderer`` -> today's prefixes.
LEGACY_PREFIXES = {"param.": "renderer.param.", "backbone.": "renderer.backbone.", "preprocess.": "renderer.preprocess."}


@dataclass
class RunState:
    """The run's position and shape, saved beside Lightning's state (``checkpoint["actmax"]``).

    ``run_dir`` is absolute (a resume from another working directory continues the same folder); ``fingerprint``
    is :func:`fingerprint` of the run (None in checkpoints of earlier versions, which cannot be verified).
    """

    backbone: str
    run_dir: str | None
    group_index: int
    image_size: list[int]
    image_count: int
    batch_size: int
    fingerprint: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> RunState | None:
        """The saved state, or None for a checkpoint without one."""
        meta = checkpoint.get(CHECKPOINT_KEY)
        if not meta:
            return None
        return cls(
            backbone=str(meta.get("backbone")), run_dir=meta.get("run_dir"), group_index=int(meta.get("group_index", -1)),
            image_size=list(meta.get("image_size", [])), image_count=int(meta.get("image_count", 0)),
            batch_size=int(meta.get("batch_size", 0)), fingerprint=meta.get("fingerprint") or None,
        )


#: ``ckpt_path`` values Lightning resolves itself (not files).
LIGHTNING_CKPT_NAMES = ("last", "best", "hpc")


def check_checkpoint_file(path: str | Path) -> None:
    """Raise :class:`~lit_actmax.errors.ConfigError`, with a sentence that says what the file is not, unless ``path``
    is a checkpoint a lit_actmax run can resume from: a file ``torch.save`` wrote, holding a Lightning checkpoint
    (a ``state_dict``) with image parameters or a ``RunState``. Read memory-mapped and without unpickling code, so
    checking a large or foreign file is cheap and safe; a checkpoint holding objects beyond tensors and plain
    values, or at an fsspec URL, is left to Lightning."""
    text, file = str(path), Path(path)
    if is_url(text):
        return
    if not file.exists() and (text in LIGHTNING_CKPT_NAMES or text.startswith("registry")):
        return
    resume = "give ckpt_path a checkpoint of a lit_actmax run, e.g. <run folder>/checkpoints/last.ckpt"
    if not file.is_file():
        raise ConfigError(f"ckpt_path {text!r} is not a file; {resume}.")
    if not zipfile.is_zipfile(file):
        raise ConfigError(f"ckpt_path {text!r} is not a checkpoint (not a file that torch.save wrote); {resume}.")
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        return
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0].split(". ")[0][:120]
        raise ConfigError(f"ckpt_path {text!r} is a damaged checkpoint ({first}); {resume}.") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise ConfigError(f"ckpt_path {text!r} is not a Lightning checkpoint (it holds no state_dict); {resume}.")
    images = any(str(k).startswith(("renderer.param.", *LEGACY_PREFIXES)) for k in checkpoint["state_dict"])
    if CHECKPOINT_KEY not in checkpoint and not images:
        raise ConfigError(
            f"ckpt_path {text!r} is a Lightning checkpoint of another model, not of a lit_actmax run: to visualize "
            "that model, give it as model.backbone (with model.checkpoint_class); ckpt_path only resumes a run."
        )


def drop_frozen(state_dict: dict[str, torch.Tensor]) -> None:
    """Remove the frozen backbone's tensors from a state dict, in place."""
    for key in [k for k in state_dict if k.startswith(FROZEN_PREFIXES)]:
        del state_dict[key]


def restore_frozen(state_dict: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> None:
    """Put the frozen backbone's tensors of ``own`` (the live module's state) back into ``state_dict``, in place."""
    for key, value in own.items():
        if key.startswith(FROZEN_PREFIXES):
            state_dict[key] = value


def rename_legacy_keys(state_dict: dict[str, torch.Tensor]) -> int:
    """Rename the keys of a checkpoint written before the module held a ``Renderer`` (``param.*``) to today's
    (``renderer.param.*``), in place, so those checkpoints still resume; returns how many keys were renamed."""
    renamed = 0
    for key in list(state_dict):
        for old, new in LEGACY_PREFIXES.items():
            if key.startswith(old):
                state_dict[new + key[len(old):]] = state_dict.pop(key)
                renamed += 1
                break
    return renamed


def match_parameter_shapes(module: nn.Module, state_dict: Mapping[str, torch.Tensor], prefix: str) -> None:
    """Give ``module``'s parameters under ``prefix`` the shapes of ``state_dict`` (a group of another size or a
    resized image) so that loading copies them instead of failing."""
    parameters = dict(module.named_parameters())
    for key, value in state_dict.items():
        target = parameters.get(key)
        if key.startswith(prefix) and target is not None and target.shape != value.shape:
            target.data = torch.empty_like(value, device=target.device)


# -- the fingerprint: everything that decides the images ------------------------------------------------------
#: Fingerprint entries whose values are object descriptions (shown as text, long ones cut to where they differ).
OBJECT_SETTINGS = ("objective", "regularizers", "param", "transforms", "optimizer", "callbacks")
_SHORT = 100  # longer values are shown around the place where they differ


def describe_setting(value: Any) -> Any:
    """A stable, JSON-able description of a setting: plain values as they are, tensors as short lists (or their
    shape and a digest), functions and classes by qualified name, ``functools.partial`` as ``target(kwargs)``, an
    object with a ``describe_setting(describe)`` method as that method says (given this function for its parts: the
    objective algebra's ``Sum``, ``PerLayer``), and other objects as ``Class(arg=value, ...)`` over their
    constructor's arguments (read back from attributes of the same name), so state an object gains while running (an
    image size, a step count) is left out."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, torch.Tensor):
        return _describe_tensor(value)
    if isinstance(value, Mapping):
        return {str(k): describe_setting(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, nn.ModuleList)):
        return [describe_setting(v) for v in value]
    return _describe_object(value)


def _describe_tensor(tensor: torch.Tensor) -> Any:
    data = tensor.detach().cpu()
    if data.numel() <= 16:  # float32 values rounded to what they hold (0.1, not 0.10000000149011612)
        return [float(f"{v:.7g}") if data.is_floating_point() else v for v in data.flatten().tolist()]
    digest = hashlib.sha1(data.contiguous().float().numpy().tobytes()).hexdigest()[:12]
    return f"tensor{list(data.shape)}#{digest}"


def _qualified(target: Any) -> str:
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def _describe_object(obj: Any) -> str:
    if isinstance(obj, functools.partial):
        # jsonargparse's OptimizerCallable: partial(call_without_instantiate_context, <instantiator>, Adam, lr=...)
        target = next((a for a in reversed(obj.args) if isinstance(a, type)), obj.func)
        plain = [describe_setting(a) for a in obj.args if a is not target and _is_plain(a)]
        args = [_text(a) for a in plain] + [f"{k}={_text(describe_setting(v))}" for k, v in obj.keywords.items()]
        return f"{_qualified(target)}({', '.join(args)})"
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return _qualified(obj)
    own = getattr(obj, "describe_setting", None)
    if callable(own):  # an object that describes itself (the objective algebra's weighted sums, PerLayer)
        return own(describe_setting)
    args = []
    for name in _init_arguments(type(obj)):
        found, value = _attribute(obj, name)
        if found:
            args.append(f"{name}={_text(describe_setting(value))}")
    return f"{type(obj).__qualname__}({', '.join(args)})"


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, list, tuple, dict, torch.Tensor))


def _init_arguments(cls: type) -> list[str]:
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.name != "self" and p.kind in kinds]


def _attribute(obj: Any, name: str) -> tuple[bool, Any]:
    """The value of constructor argument ``name`` as ``obj`` keeps it: ``obj.name``, ``obj.name_path``,
    ``obj._name``, or ``name`` of a plain settings object it holds (e.g. an ``EpochSchedule``)."""
    for attr in (name, f"{name}_path", f"_{name}"):
        try:
            value = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - a property that cannot be read here is no setting
            continue
        if not callable(value) or isinstance(value, nn.Module):
            return True, value
    for held in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if not isinstance(held, (nn.Module, torch.Tensor, type)) and hasattr(held, "__dict__") and name in vars(held):
            return True, vars(held)[name]
    return False, None


def _text(value: Any) -> str:
    """A described value as it reads inside an object's description."""
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str) and not re.fullmatch(r"[\w.]+\(.*\)|tensor\[.*", value, flags=re.S):
        return repr(value)
    return str(value)


def fingerprint(
    *, hparams: Mapping[str, Any], objective: Any, regularizers: Sequence[Any], param: Any, transforms: Any,
    optimizer: Any, units: Sequence[int] | Sequence[str], callbacks: Sequence[Any] = (), world_size: int = 1,
    precision: str | None = None,
) -> dict[str, Any]:
    """Everything that decides a run's images, as JSON-able values (``RunState.fingerprint``): the backbone and its
    input settings, the objective, regularizers, units, variants, size, parameterization, transforms, optimizer,
    seed, steps, the Trainer's callbacks that change images, the world size, the precision and the pinned numerics
    (``lit_actmax.core.numerics.Numerics``: threads, deterministic algorithms, matmul precision). The batch size is
    not in it (a resume adopts the checkpoint's), nor the run folder (``RunState.run_dir``)."""
    size = hparams.get("size", 128)
    settings: dict[str, Any] = {
        "backbone": hparams.get("backbone"),
        "weights": hparams.get("weights"),
        "checkpoint_class": hparams.get("checkpoint_class"),
        "mean": describe_setting(hparams.get("mean")),
        "std": describe_setting(hparams.get("std")),
        "min_size": hparams.get("min_size"),
        "input_size": describe_setting(hparams.get("input_size")),
        "init_image": hparams.get("init_image"),
        "objective": describe_setting(objective),
        "regularizers": describe_setting(list(regularizers)),
        "units": [u if isinstance(u, str) else int(u) for u in units],
        "variants": int(hparams.get("variants", 1)),
        "size": [int(size), int(size)] if isinstance(size, int) else [int(s) for s in size],
        "param": describe_setting(param),
        "transforms": describe_setting(transforms),
        "optimizer": describe_setting(optimizer),
        "seed": int(hparams.get("seed", 0)),
        "steps_per_epoch": int(hparams.get("steps_per_epoch", 0)),
        "epochs": int(hparams.get("epochs", 0)),
        "callbacks": [describe_setting(c) for c in callbacks],
        "world_size": int(world_size),
        "precision": None if precision is None else str(precision),
        "numerics": describe_setting(hparams.get("numerics")),
    }
    return settings


def fingerprint_differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(setting, checkpoint value, current value)`` for every setting both fingerprints hold that differs (module
    paths of earlier releases read as today's, :func:`current_settings`)."""
    saved, now = current_settings(saved), current_settings(now)
    return [(key, saved[key], value) for key, value in now.items() if key in saved and saved[key] != value]



def resume_differences(saved: RunState, now: Mapping[str, Any], backbone: str) -> list[tuple[str, Any, Any]]:
    """What resuming from a checkpoint with ``saved`` state would change: ``(setting, checkpoint value, current value)``
    of every differing setting of the fingerprint ``now`` (a checkpoint without a fingerprint, from an earlier version:
    its ``backbone`` only)."""
    differences = [] if saved.fingerprint is None else fingerprint_differences(saved.fingerprint, now)
    if saved.backbone != backbone and not any(key == "backbone" for key, _, _ in differences):
        differences.insert(0, ("backbone", saved.backbone, backbone))
    return differences


def resume_refusal(saved: RunState, differences: Sequence[tuple[str, Any, Any]]) -> str:
    """The sentence that refuses a resume with other settings, naming each with both values and the checkpoint's
    config (``<run folder>/config.yaml``) when there is one."""
    config = location(saved.run_dir) / "config.yaml" if saved.run_dir else None
    where = f" ({config})" if config is not None and config.is_file() else ""
    return (f"This checkpoint was made with other settings: {describe_differences(differences)}; "
            f"resume with the checkpoint's config{where} or start a new run.")

#: A qualified name inside a described setting (``lit_actmax.optim.default_optimizer``).
QUALIFIED_NAME = re.compile(r"\blit_actmax(?:\.\w+)+")


def current_settings(settings: Any) -> Any:
    """A fingerprint (or a folder's settings) as this or an earlier release wrote it, with the module paths of
    earlier releases replaced by today's (:data:`lit_actmax.moved.MOVED_MODULES`): the package's split into
    subpackages changed no image, so it must not make old checkpoints and folders look like other settings. Nor do
    the thread counts of :data:`~lit_actmax.core.numerics.REPRODUCIBLE_THREADS` (``threads: 2`` of earlier releases
    reads as today's ``"auto"``: :func:`~lit_actmax.core.numerics.same_images_numerics`)."""
    if isinstance(settings, str):
        return QUALIFIED_NAME.sub(lambda match: current_name(match.group(0)), settings)
    if isinstance(settings, Mapping):  # numerics: thread counts that give the same images compare equal
        return {key: current_settings(same_images_numerics(value) if key == "numerics" else value)
                for key, value in settings.items()}
    if isinstance(settings, list):
        return [current_settings(value) for value in settings]
    return settings


def describe_differences(differences: Sequence[tuple[str, Any, Any]]) -> str:
    """``units [0, 1, 2, 3] (now [0, 1, 12, 13]), size 64 (now 96)``."""
    return ", ".join(f"{key} {then} (now {now})" for key, then, now in
                     (_contrast(key, _show(key, a), _show(key, b)) for key, a, b in differences))


def _show(key: str, value: Any) -> str:
    if key == "size" and isinstance(value, list) and len(value) == 2:
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    if key == "units" and isinstance(value, list) and len(value) > 16:
        if all(isinstance(u, int) for u in value):
            return f"{_ranges(value)} ({len(value)} units)"
        return f"[{', '.join(map(str, value[:3]))}, ..., {value[-1]}] ({len(value)} units)"
    if key in OBJECT_SETTINGS:
        if isinstance(value, list):
            return "[" + ", ".join(_text(v) for v in value) + "]"
        return str(value)
    return _text(value) if not isinstance(value, str) else repr(value)


def _ranges(units: Sequence[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
    parts: list[str] = []
    start = prev = None
    for u in list(units) + [None]:
        if start is not None and (u is None or u != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if u is not None and start is None:
            start = u
        prev = u
    return ",".join(parts)


def _contrast(key: str, a: str, b: str) -> tuple[str, str, str]:
    """Two long descriptions cut to where they differ (with a little context on each side)."""
    if len(a) <= _SHORT and len(b) <= _SHORT:
        return key, a, b
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    context = 24
    start, stop = max(0, head - context), max(0, tail - context)

    def cut(text: str) -> str:
        end = len(text) - stop
        middle = text[start:end]
        if len(middle) > 2 * _SHORT:  # still long: its start says enough
            middle, end = middle[: 2 * _SHORT], -1
        return ("..." if start else "") + middle + ("..." if end < len(text) else "")

    return key, cut(a), cut(b)
