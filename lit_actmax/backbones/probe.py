"""Capture activations at named layers, and stop the forward pass once the last one is captured.

A layer is named by its dotted module path (``features.8``, ``_blocks.10``, ``layer3.1.conv2``, ``classifier.6``)
or ``"output"`` for the model's output. A module called at several places of one forward pass (a shared
activation module, say) is ambiguous: pick one call with ``name#k`` (k-th call, from 0); otherwise
:meth:`LayerProbe.check` reports it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ProbeError
from .layouts import LayerLayout, detect_layout, model_patch_size

__all__ = ["LayerProbe", "ProbeError", "LayerInfo", "LayerLayout", "list_layers", "OUTPUT", "parse_layer",
           "first_tensor", "StopForward", "other_size"]

OUTPUT = "output"
#: What a model may raise when it cannot run at the second dry-run size (fixed-input transformers).
_SIZE_FAILURES = (RuntimeError, AssertionError, ValueError, IndexError, TypeError)


def other_size(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) resized to a second size for layout detection: larger by two patches of the model's patch
    size, or by 32 pixels (a whole number of strides of the usual CNNs)."""
    patch = model_patch_size(model)
    dh, dw = (2 * patch[0], 2 * patch[1]) if patch else (32, 32)
    return F.interpolate(x, size=(x.shape[-2] + dh, x.shape[-1] + dw), mode="bilinear", align_corners=False)

class StopForward(Exception):
    """Raised by a hook once every requested activation has been captured (early exit)."""


def parse_layer(layer: str) -> tuple[str, int | None]:
    """``"features.8#1"`` -> ``("features.8", 1)``; ``"features.8"`` -> ``("features.8", None)``."""
    name, sep, index = layer.partition("#")
    if not sep:
        return layer, None
    if not index.isdigit():
        raise ProbeError(f"Layer {layer!r}: the part after '#' must be a call index such as '#0'.")
    return name, int(index)


def first_tensor(output: object) -> torch.Tensor:
    """The tensor a module returned: itself, the first element of a tuple/list, or a model output's ``logits``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if hasattr(output, "logits") and isinstance(output.logits, torch.Tensor):  # model output dataclasses
        return output.logits
    raise ProbeError(f"The probed layer returned {type(output).__name__}, not a tensor.")


class _CaptureHook:
    """A named (picklable) forward hook: records the ``index``-th call's output of one module."""

    def __init__(self, probe: "LayerProbe", layer: str, index: int | None) -> None:
        self.probe = probe
        self.layer = layer
        self.index = index
        self.calls = 0

    def __call__(self, module: nn.Module, args: tuple, output: object) -> None:
        call = self.calls
        self.calls += 1
        if self.index is not None and call != self.index:
            return
        if self.index is None and call > 0:
            return
        self.probe._captured(self.layer, first_tensor(output))


class LayerProbe:
    """Run ``model`` on ``x`` and return ``{layer: activation}`` for the requested layers.

    With ``stop_early`` (default) the forward pass ends right after the last requested layer, so a shallow
    layer costs proportionally less. Activations captured before the last one are cloned, so an inplace op
    later in the graph (``ReLU(inplace=True)``) cannot overwrite them. Hooks are registered by
    :meth:`attach` (or ``with probe:``) and removed by :meth:`remove`.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str] | str, stop_early: bool = True) -> None:
        self.model = model
        self.layers = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
        if not self.layers:
            raise ProbeError("LayerProbe needs at least one layer name (or 'output').")
        self.stop_early = stop_early
        self._modules: dict[str, nn.Module] = {}
        names = dict(model.named_modules())
        for layer in self.layers:
            if layer == OUTPUT:
                continue
            name, _ = parse_layer(layer)
            if name not in names or name == "":
                raise ProbeError(unknown_layer_message(model, name))
            self._modules[layer] = names[name]
        self._hooks: list[_CaptureHook] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._store: dict[str, torch.Tensor] = {}
        self.active: list[str] = list(self.layers)

    def use_layers(self, layers: Sequence[str] | None) -> None:
        """Capture (and stop after the deepest of) only these of the probed layers; None: all of them. A batch of
        units of a shallow layer then stops early although the probe also serves deeper ones."""
        if layers is None:
            self.active = list(self.layers)
            return
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise ProbeError(f"Layer(s) {unknown} are not probed; probe them when the probe is made.")
        self.active = [name for name in self.layers if name in set(layers)]

    # -- hooks ------------------------------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def attach(self) -> "LayerProbe":
        if self.attached:
            return self
        for layer, module in self._modules.items():
            hook = _CaptureHook(self, layer, parse_layer(layer)[1])
            self._hooks.append(hook)
            self._handles.append(module.register_forward_hook(hook))
        return self

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._hooks.clear()

    def __enter__(self) -> "LayerProbe":
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"], state["_hooks"], state["_store"] = [], [], {}
        return state

    def _captured(self, layer: str, tensor: torch.Tensor) -> None:
        self._store[layer] = tensor
        hooked = [name for name in self.active if name != OUTPUT]
        if all(name in self._store for name in hooked) and self.stop_early and OUTPUT not in self.active:
            raise StopForward
        # More of the graph runs after this capture: protect it from inplace ops downstream.
        self._store[layer] = tensor.clone()

    # -- running ----------------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, C, H, W) model input -> {layer: activation of shape (B, ...)}."""
        detach_after = not self.attached
        self.attach()
        try:
            store = self.truncated_forward(x)
        finally:
            if detach_after:
                self.remove()
        return self.check_complete(store)

    def truncated_forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the model on ``x`` with the hooks attached, stopping after the last hooked layer -> {layer: activation}
        of the layers that ran (see :meth:`check_complete`). :func:`~lit_actmax.core.compile.compile_probe` compiles this."""
        self._store = {}
        for hook in self._hooks:
            hook.calls = 0
        output = None
        try:
            output = self.model(x)
        except StopForward:
            pass
        store, self._store = self._store, {}
        if OUTPUT in self.active:
            store[OUTPUT] = first_tensor(output)
        return store

    def check_complete(self, store: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``store`` if it holds every probed layer; else a :class:`ProbeError` naming the layers that never ran."""
        missing = [name for name in self.active if name not in store]
        if missing:
            raise ProbeError(
                f"Layer(s) {missing} did not run in the forward pass; pick layers that the model's forward uses."
            )
        return store

    def layouts(self, x: torch.Tensor, stated: dict[str, str] | None = None,
                acts: dict[str, torch.Tensor] | None = None) -> dict[str, LayerLayout]:
        """Each probed layer's :class:`~lit_actmax.backbones.layouts.LayerLayout`, from dry runs at ``x``'s size (``acts``
        if already computed) and at :func:`other_size` (skipped where the model takes one size only). ``stated``:
        ``{layer: "BHWC" | "BNC:1" | ...}`` the user's layouts, which win. Raises :class:`ProbeError` asking for
        the layout of a layer it cannot tell."""
        stated = dict(stated or {})
        with torch.no_grad():
            first = acts if acts is not None else self(x)
            x2 = other_size(self.model, x)
            try:
                second = self(x2)
            except _SIZE_FAILURES:
                second = None
        patch = model_patch_size(self.model)
        result: dict[str, LayerLayout] = {}
        for layer in self.layers:
            shape = tuple(first[layer].shape[1:])
            shapes = [shape] if second is None else [shape, tuple(second[layer].shape[1:])]
            sizes = [tuple(x.shape[-2:])] if second is None else [tuple(x.shape[-2:]), tuple(x2.shape[-2:])]
            if layer in stated:
                special = None
                if LayerLayout.parse(stated[layer])[0] == "BNC" and len(shape) == 2:
                    try:
                        special = detect_layout(layer, None, shapes, sizes, patch).special
                    except ProbeError:
                        special = None
                result[layer] = LayerLayout.stated(stated[layer], shape, layer, special)
            else:
                result[layer] = detect_layout(layer, self._modules.get(layer), shapes, sizes, patch)
        return result

    def check(self, x: torch.Tensor) -> dict[str, int]:
        """Dry-run the full model once and return how often each layer ran; raise if a layer is ambiguous."""
        counts: dict[str, int] = {}
        handles = []
        for layer, module in self._modules.items():
            def count(_m: nn.Module, _a: tuple, _o: object, layer: str = layer) -> None:
                counts[layer] = counts.get(layer, 0) + 1
            handles.append(module.register_forward_hook(count))
        try:
            with torch.no_grad():
                self.model(x)
        finally:
            for handle in handles:
                handle.remove()
        for layer in self._modules:
            name, index = parse_layer(layer)
            calls = counts.get(layer, 0)
            if calls == 0:
                raise ProbeError(f"Layer {name!r} is never called in the model's forward pass; pick another layer.")
            if index is None and calls > 1:
                raise ProbeError(
                    f"Layer {name!r} is used at {calls} places in one forward pass (a shared module); "
                    f"name one call as '{name}#0' ... '{name}#{calls - 1}', or hook a module used once."
                )
            if index is not None and index >= calls:
                raise ProbeError(f"Layer {name!r} runs {calls} times, so '{layer}' does not exist; use #0 to #{calls - 1}.")
        return counts


def unknown_layer_message(model: nn.Module, name: str) -> str:
    names = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = f" Closest names: {', '.join(close)}." if close else ""
    return f"The model has no layer {name!r}.{hint} Run `lit-actmax layers <spec>` to list them (or use 'output')."


@dataclass
class LayerInfo:
    """A hookable layer: its dotted name, module type, output shape for one image, calls per forward, and its
    layout (None where it cannot be told: ``lit-actmax layers`` shows ``?``; objectives then need ``layout=``)."""

    name: str
    type: str
    shape: tuple[int, ...]
    calls: int
    layout: LayerLayout | None = None


def _output_shapes(model: nn.Module, x: torch.Tensor, wanted: set[str] | None) -> dict[str, LayerInfo]:
    """Run ``model`` once on ``x`` -> {name: LayerInfo} of every submodule that produced a tensor (and 'output')."""
    infos: dict[str, LayerInfo] = {}
    handles = []
    for name, module in model.named_modules():
        if not name or (wanted is not None and name not in wanted):
            continue

        def record(_m: nn.Module, _a: tuple, output: object, name: str = name, module: nn.Module = module) -> None:
            try:
                shape = tuple(first_tensor(output).shape[1:])
            except ProbeError:
                return
            if name in infos:
                infos[name].calls += 1
            else:
                infos[name] = LayerInfo(name, type(module).__name__, shape, 1)

        handles.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            output = model(x)
    finally:
        for handle in handles:
            handle.remove()
    infos[OUTPUT] = LayerInfo(OUTPUT, type(model).__name__, tuple(first_tensor(output).shape[1:]), 1)
    return infos


def list_layers(model: nn.Module, x: torch.Tensor, include: Iterable[str] | None = None) -> list[LayerInfo]:
    """Run ``model`` on ``x`` (1, 3, H, W) and list every submodule that produces a tensor, in call order, with its
    layout (from a second run at :func:`other_size`, where the model takes it)."""
    wanted = set(include) if include is not None else None
    infos = _output_shapes(model, x, wanted)
    x2 = other_size(model, x)
    try:
        second = _output_shapes(model, x2, wanted)
    except _SIZE_FAILURES:
        second = {}
    modules = dict(model.named_modules())
    patch = model_patch_size(model)
    for name, info in infos.items():
        runs = [(info.shape, tuple(x.shape[-2:]))]
        if name in second:
            runs.append((second[name].shape, tuple(x2.shape[-2:])))
        try:
            info.layout = detect_layout(name, modules.get(name) if name != OUTPUT else None,
                                        [r[0] for r in runs], [r[1] for r in runs], patch)
        except ProbeError:
            info.layout = None
    return list(infos.values())
