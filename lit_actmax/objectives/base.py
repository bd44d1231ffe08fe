"""The objective contract and its algebra: :class:`RenderBatch` in, ``(B,)`` scores out, terms that add up.

Each objective scores every image of a batch for its own unit and returns ``(B,)``: image ``b`` targets unit
``batch.units[b]`` unless the objective was built with a fixed ``unit``. Objectives compose like the math they
stand for (``Channel("features.8", 3) - 0.05 * TotalVariation()``): ``+``, ``-``, scalar ``*`` and ``/`` build a
:class:`Sum` of weighted leaf terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from ..backbones.layouts import LayerLayout, convention_layout
from ..errors import ConfigError

__all__ = ["RenderBatch", "Objective", "Sum", "merge_stated_layouts", "channels_first"]


@dataclass
class RenderBatch:
    """What an objective sees for one step.

    ``acts``: {layer: activation (B, ...)}; ``units``: (B,) long unit ids; ``image``: (B, 3, H, W) in [0, 1],
    the images before augmentation; ``variants``: (B,) long index of each image among its unit's variants;
    ``targets``: (B,) long index of each image's target layer in a run of units across layers
    (:class:`~lit_actmax.core.layer_selection.PerLayer`), None in a run of one objective.
    """

    acts: dict[str, torch.Tensor]
    units: torch.Tensor
    image: torch.Tensor | None = None
    variants: torch.Tensor | None = None
    targets: torch.Tensor | None = None

    def select(self, rows: torch.Tensor) -> "RenderBatch":
        """The batch of the images ``rows`` (R,) long: every per-image tensor indexed along its first dim."""
        def take(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor[rows.to(tensor.device)]

        return RenderBatch(acts={name: a[rows.to(a.device)] for name, a in self.acts.items()}, units=self.units[rows],
                           image=take(self.image), variants=take(self.variants), targets=take(self.targets))


def merge_stated_layouts(statements: Iterable[dict[str | None, str | None]]) -> dict[str, str]:
    """``{layer: layout}`` of several terms' statements in one; :class:`ConfigError` if two state different ones."""
    stated: dict[str, str] = {}
    for said in statements:
        for layer, layout in said.items():
            if layer and layout and stated.setdefault(layer, layout) != layout:
                raise ConfigError(f"Layer {layer!r} is given two layouts, {stated[layer]!r} and {layout!r}; state one.")
    return stated


def channels_first(acts: torch.Tensor, layout: LayerLayout | None = None) -> torch.Tensor:
    """(B, C, H, W) stays; (B, C) -> (B, C, 1); (B, N, C) token sequences -> (B, C, N); with ``layout`` (the
    probe's), any layout -> (B, C, positions)."""
    if layout is not None:
        return layout.channels_first(acts)
    if acts.dim() == 2:
        return acts.unsqueeze(-1)
    if acts.dim() == 3:
        return acts.transpose(1, 2)
    return acts


class Objective(nn.Module):
    """Base class: ``forward(batch) -> (B,)`` scores to maximize. Supports ``+``, ``-``, scalar ``*`` and ``/``."""

    is_regularizer: bool = False
    #: The layer this term reads, if any.
    layer: str | None = None
    #: A fixed unit (channel/class/row) overriding the batch's unit ids.
    unit: int | None = None
    _bound_layouts: dict[str, LayerLayout] | None = None

    @property
    def stated_layout(self) -> str | None:
        """The layout of ``layer`` as the user stated it (``layout=``: "BHWC", "BNC:1", ...), or None: the probe's.
        Kept as the attribute ``layout`` only when given, so checkpoint fingerprints of earlier runs stay valid."""
        return getattr(self, "layout", None)

    def use_layouts(self, layouts: dict[str, LayerLayout]) -> None:
        """Give every leaf term the probe's layouts ``{layer: LayerLayout}`` (the renderer's ``validate`` does)."""
        for _, term in self.terms():
            if term is self:
                term._bound_layouts = dict(layouts)
            else:  # a leaf with parts of its own (PerLayer) passes them on
                term.use_layouts(layouts)

    def stated_layouts(self) -> dict[str, str]:
        """``{layer: layout}`` the terms state; :class:`ConfigError` if two terms state different ones."""
        return merge_stated_layouts({term.layer: term.stated_layout} if term is self else term.stated_layouts()
                                    for _, term in self.terms())

    def layout_of(self, acts: torch.Tensor | tuple[int, ...] | LayerLayout, layer: str | None = None) -> LayerLayout:
        """The layout of ``layer`` (default: this term's) for activations ``acts`` (B, ...) or a per-image shape: the
        stated one, else the probe's, else by rank (:func:`~lit_actmax.backbones.layouts.convention_layout`)."""
        layer = layer or self.layer
        said = self.stated_layout if layer == self.layer else None
        if isinstance(acts, LayerLayout):
            if said:
                return LayerLayout.stated(said, acts.shape, layer, acts.special if acts.is_tokens else None)
            return acts
        shape = tuple(acts.shape[1:]) if isinstance(acts, torch.Tensor) else tuple(acts)
        bound = (self._bound_layouts or {}).get(layer)
        if said:
            return LayerLayout.stated(said, shape, layer, bound.special if bound and bound.is_tokens else None)
        if bound is not None and len(bound.shape) == len(shape):
            return bound
        return convention_layout(shape)

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective reads, in order of first mention."""
        return (self.layer,) if self.layer else ()

    def layers_for(self, targets: Sequence[int]) -> tuple[str, ...]:
        """The layers a batch of images of these ``targets`` (see :class:`~lit_actmax.core.layer_selection.PerLayer`) needs: the
        forward pass may stop after the deepest. One objective reads all of :attr:`layers` for every image."""
        return self.layers

    def terms(self) -> Iterator[tuple[float, "Objective"]]:
        """The weighted leaf terms of this objective."""
        yield 1.0, self

    def score(self, batch: RenderBatch) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: RenderBatch) -> torch.Tensor:
        return self.score(batch)

    def activation(self, batch: RenderBatch) -> torch.Tensor:
        """The target activation (B,): the weighted sum of the non-regularizer terms."""
        parts = [w * t.score(batch) for w, t in self.terms() if not t.is_regularizer]
        if not parts:
            return torch.zeros(batch.units.shape[0], device=batch.units.device)
        return torch.stack(parts).sum(0)

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        """How many units the batch's unit ids may address (valid ids ``0 .. n-1``), or None if unbounded."""
        return None

    def units_for(self, batch: RenderBatch) -> torch.Tensor:
        if self.unit is not None:
            return torch.full_like(batch.units, int(self.unit))
        return batch.units

    def describe(self) -> str:
        """A short, stable text used in the index: e.g. ``Channel(features.8)``."""
        return f"{type(self).__name__}({self.layer or ''})"

    # -- algebra ----------------------------------------------------------------------------------------
    def __add__(self, other: "Objective | float") -> "Objective":
        if isinstance(other, (int, float)):
            if other == 0:
                return self
            return NotImplemented
        return Sum([*self.terms(), *other.terms()])

    def __radd__(self, other: "Objective | float") -> "Objective":  # sum([...]) starts with 0
        return self.__add__(other)

    def __neg__(self) -> "Objective":
        return Sum([(-w, t) for w, t in self.terms()])

    def __sub__(self, other: "Objective") -> "Objective":
        return self + (-other)

    def __mul__(self, factor: float) -> "Objective":
        if not isinstance(factor, (int, float)):
            return NotImplemented
        return Sum([(float(factor) * w, t) for w, t in self.terms()])

    __rmul__ = __mul__

    def __truediv__(self, factor: float) -> "Objective":
        return self * (1.0 / factor)


class Sum(Objective):
    """A weighted sum of leaf objectives; built by the algebra, rarely by hand."""

    def __init__(self, terms: Sequence[tuple[float, Objective]]) -> None:
        super().__init__()
        self.weights = [float(w) for w, _ in terms]
        self.parts = nn.ModuleList([t for _, t in terms])

    def terms(self) -> Iterator[tuple[float, Objective]]:
        yield from zip(self.weights, self.parts)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for t in self.parts for name in t.layers))

    def layers_for(self, targets: Sequence[int]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for t in self.parts for name in t.layers_for(targets)))

    def score(self, batch: RenderBatch) -> torch.Tensor:
        return torch.stack([w * t.score(batch) for w, t in self.terms()]).sum(0)

    def num_units(self, shapes: dict[str, tuple[int, ...] | LayerLayout]) -> int | None:
        bounds = [t.num_units(shapes) for t in self.parts if t.unit is None]
        bounds = [b for b in bounds if b is not None]
        return min(bounds) if bounds else None

    def describe(self) -> str:
        text = ""
        for w, t in self.terms():
            sign = "-" if w < 0 else "+"
            mag = abs(w)
            piece = t.describe() if mag == 1 else f"{mag:g}*{t.describe()}"
            text += (f" {sign} " if text else ("-" if w < 0 else "")) + piece
        return text

    def describe_setting(self, describe: Callable[[Any], Any]) -> str:
        """This sum in a settings fingerprint (:func:`~lit_actmax.run.checkpoint_state.describe_setting`):
        ``Sum(1.0*Channel(layer='x', unit=None), -0.05*TotalVariation(weight=1.0, beta=1.0))``."""
        return f"Sum({', '.join(f'{w!r}*{describe(t)}' for w, t in self.terms())})"
