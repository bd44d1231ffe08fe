"""Objectives: what to maximize. Each scores every image of a batch for its own unit and returns ``(B,)``.

One batch can hold many different units: image ``b`` targets unit ``batch.units[b]`` unless the objective was
built with a fixed ``unit``. Objectives compose like the math they stand for::

    Channel("features.8", 3) - 0.05 * TotalVariation()
    ClassLogit() + 0.5 * Diversity("_blocks.10")

Activations may be ``(B, C, H, W)`` (convolutions), ``(B, C)`` (linear layers) or ``(B, N, C)`` (token
sequences, channels last). Terms marked ``is_regularizer`` (total variation, diversity, ...) are part of the
loss but not of the reported *activation*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .probe import OUTPUT

__all__ = [
    "RenderBatch",
    "Objective",
    "Sum",
    "ClassLogit",
    "Neuron",
    "Channel",
    "Layer",
    "Direction",
    "Diversity",
    "channels_first",
]


@dataclass
class RenderBatch:
    """What an objective sees for one step.

    ``acts``: {layer: activation (B, ...)}; ``units``: (B,) long unit ids; ``image``: (B, 3, H, W) in [0, 1],
    the images before augmentation; ``variants``: (B,) long index of each image among its unit's variants.
    """

    acts: dict[str, torch.Tensor]
    units: torch.Tensor
    image: torch.Tensor | None = None
    variants: torch.Tensor | None = None


def channels_first(acts: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) stays; (B, C) -> (B, C, 1); (B, N, C) token sequences -> (B, C, N)."""
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

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective reads, in order of first mention."""
        return (self.layer,) if self.layer else ()

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

    def score(self, batch: RenderBatch) -> torch.Tensor:
        return torch.stack([w * t.score(batch) for w, t in self.terms()]).sum(0)

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
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


def _take_channel(acts: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """(B, C, ...) and (B,) -> (B, ...): each image's own channel."""
    index = units.view(-1, *([1] * (acts.dim() - 1))).expand(-1, 1, *acts.shape[2:])
    return acts.gather(1, index).squeeze(1)


class _ChannelObjective(Objective):
    def __init__(self, layer: str, unit: int | None = None) -> None:
        super().__init__()
        self.layer = layer
        self.unit = unit

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        shape = shapes[self.layer]
        return shape[-1] if len(shape) == 2 else shape[0]

    def describe(self) -> str:
        unit = "" if self.unit is None else f", {self.unit}"
        return f"{type(self).__name__}({self.layer}{unit})"


class ClassLogit(_ChannelObjective):
    """The logit (or log-probability) of each image's class: unit ``u`` of a ``(B, C)`` output layer.

    ``normalize``: ``"logit"`` (raw, default), ``"log_softmax"`` or ``"softmax"`` over the classes.
    Spatial outputs are averaged over positions first.
    """

    def __init__(self, layer: str = OUTPUT, unit: int | None = None, normalize: str = "logit") -> None:
        super().__init__(layer, unit)
        if normalize not in ("logit", "log_softmax", "softmax"):
            raise ConfigError(f"normalize must be 'logit', 'log_softmax' or 'softmax', not {normalize!r}.")
        self.normalize = normalize

    def score(self, batch: RenderBatch) -> torch.Tensor:
        logits = channels_first(batch.acts[self.layer]).flatten(2).mean(-1)  # (B, C)
        if self.normalize == "log_softmax":
            logits = logits.log_softmax(-1)
        elif self.normalize == "softmax":
            logits = logits.softmax(-1)
        return logits.gather(1, self.units_for(batch).view(-1, 1)).squeeze(1)


class Channel(_ChannelObjective):
    """Mean activation of each image's channel over all positions. ``(B, C, H, W) -> (B,)``."""

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = channels_first(batch.acts[self.layer])
        return _take_channel(acts, self.units_for(batch)).flatten(1).mean(-1)


class Neuron(_ChannelObjective):
    """One channel at one position: the spatial centre by default, or ``(y, x)``. ``(B, C, H, W) -> (B,)``.

    For ``(B, N, C)`` token activations, ``x`` is the token index (default: the middle token).
    """

    def __init__(self, layer: str, unit: int | None = None, y: int | None = None, x: int | None = None) -> None:
        super().__init__(layer, unit)
        self.y, self.x = y, x

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = channels_first(batch.acts[self.layer])
        plane = _take_channel(acts, self.units_for(batch))  # (B, H, W) or (B, N)
        if plane.dim() == 2:
            return plane[:, plane.shape[1] // 2 if self.x is None else self.x]
        h, w = plane.shape[1:]
        y = h // 2 if self.y is None else self.y
        x = w // 2 if self.x is None else self.x
        if not (0 <= y < h and 0 <= x < w):
            raise ConfigError(f"Neuron position (y={y}, x={x}) lies outside the {h}x{w} map of layer {self.layer!r}.")
        return plane[:, y, x]


class Layer(Objective):
    """DeepDream: the mean squared activation of a whole layer. Unit ids only seed different images."""

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = layer

    def score(self, batch: RenderBatch) -> torch.Tensor:
        return batch.acts[self.layer].flatten(1).pow(2).mean(-1)


class Direction(Objective):
    """Projection of each position's channel vector onto a direction, averaged over positions.

    ``directions``: one vector (C,) or a matrix (U, C) whose row ``u`` is unit ``u``'s direction. ``metric``:
    ``"dot"`` (projection on the unit-normalized direction) or ``"cosine"`` (cosine similarity).
    """

    def __init__(
        self, layer: str, directions: Sequence[float] | Sequence[Sequence[float]] | torch.Tensor,
        metric: str = "dot", unit: int | None = None,
    ) -> None:
        super().__init__()
        if metric not in ("dot", "cosine"):
            raise ConfigError(f"metric must be 'dot' or 'cosine', not {metric!r}.")
        self.layer, self.metric, self.unit = layer, metric, unit
        vectors = torch.as_tensor(directions, dtype=torch.float32)
        if vectors.dim() == 1:
            vectors = vectors.unsqueeze(0)
            self.unit = 0 if unit is None else unit
        self.register_buffer("directions", F.normalize(vectors, dim=1))

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        return self.directions.shape[0]

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = channels_first(batch.acts[self.layer]).flatten(2)  # (B, C, P)
        if acts.shape[1] != self.directions.shape[1]:
            raise ConfigError(
                f"Direction vectors have {self.directions.shape[1]} channels but layer {self.layer!r} has {acts.shape[1]}."
            )
        vec = self.directions.to(acts.dtype)[self.units_for(batch)].unsqueeze(-1)  # (B, C, 1)
        if self.metric == "cosine":
            return F.cosine_similarity(acts, vec, dim=1).mean(-1)
        return (acts * vec).sum(1).mean(-1)


class Diversity(Objective):
    """Batch-level diversity among the variants of each unit (Lucid's ``diversity``).

    For image ``b``: minus the mean cosine similarity between its Gram matrix at ``layer`` and those of the
    other images of the batch that target the same unit. Zero for a unit rendered once. Maximize it.
    """

    is_regularizer = True

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = layer

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = channels_first(batch.acts[self.layer]).flatten(2)  # (B, C, P)
        gram = torch.bmm(acts, acts.transpose(1, 2)).flatten(1) / acts.shape[-1]
        gram = F.normalize(gram, dim=1)
        similarity = gram @ gram.T  # (B, B)
        same = batch.units.view(-1, 1) == batch.units.view(1, -1)
        if batch.variants is not None:  # several views (crops) of one image share its variant: not compared
            same &= batch.variants.view(-1, 1) != batch.variants.view(1, -1)
        same.fill_diagonal_(False)
        count = same.sum(1)
        mean_similarity = (similarity * same).sum(1) / count.clamp(min=1)
        return torch.where(count > 0, -mean_similarity, torch.zeros_like(mean_similarity))


# -- selections of midnite's PixelActivation (issue 3): a spatial position, several units at once -------------
def _grid(shape: tuple[int, ...]) -> tuple[int, int]:
    """The (rows, columns) of a layer's positions from its per-image shape: (C, H, W) or tokens (N, C) -> (1, N)."""
    if len(shape) == 3:
        return shape[1], shape[2]
    if len(shape) == 2:
        return 1, shape[0]
    return 1, 1


class Spatial(Objective):
    """All channels at one position: the mean over channels of the activation at ``(y, x)`` (midnite's spatial
    selection; midnite's masked mean is this divided by the number of positions). ``(B, C, H, W) -> (B,)``.

    With ``y`` and ``x`` given the position is fixed (unit ids only seed the images); without them, unit ``u`` is
    position ``u`` in row-major order (``y = u // W``, ``x = u % W``), so ``units: 0-48`` renders every position of
    a 7x7 map. For ``(B, N, C)`` token sequences the position is the token: give only ``x``.
    """

    def __init__(self, layer: str, y: int | None = None, x: int | None = None) -> None:
        super().__init__()
        if (y is None) != (x is None) and y is not None:
            raise ConfigError("Give both y and x for a fixed position (or only x for token sequences), or neither.")
        self.layer, self.y, self.x = layer, y, x

    def _fixed(self, rows: int, cols: int) -> int | None:
        if self.x is None:
            return None
        y = 0 if self.y is None else int(self.y)
        if not (0 <= y < rows and 0 <= int(self.x) < cols):
            raise ConfigError(f"Position (y={self.y}, x={self.x}) lies outside the {rows}x{cols} map of layer {self.layer!r}.")
        return y * cols + int(self.x)

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        shape = shapes[self.layer]
        if len(shape) < 2:
            raise ConfigError(f"Layer {self.layer!r} has no spatial positions (shape {shape}); select channels instead.")
        rows, cols = _grid(shape)
        return None if self._fixed(rows, cols) is not None else rows * cols

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = channels_first(batch.acts[self.layer])
        if batch.acts[self.layer].dim() < 3:
            raise ConfigError(f"Layer {self.layer!r} has no spatial positions; select channels instead.")
        plane = acts.mean(1).flatten(1)  # (B, P)
        rows, cols = (acts.shape[2], acts.shape[3]) if acts.dim() == 4 else (1, acts.shape[2])
        fixed = self._fixed(rows, cols)
        index = torch.full_like(batch.units, fixed) if fixed is not None else batch.units
        return plane.gather(1, index.view(-1, 1)).squeeze(1)

    def describe(self) -> str:
        where = "" if self.x is None else f", y={self.y}, x={self.x}"
        return f"Spatial({self.layer}{where})"


class UnitSet(Objective):
    """Several units optimized together as one: the mean of their activations (midnite's selections of several
    neurons or channels at once).

    ``kind`` says what a member is: ``"channel"`` (an index; the channel's mean over positions, or the unit of a
    ``(B, C)`` layer such as class logits), ``"neuron"`` (``[c, y, x]``; ``[c, n]`` for tokens) or ``"spatial"``
    (``[y, x]``: mean over channels there; ``[n]`` for tokens). ``members``: one set, rendered by every image
    (unit ids only seed, e.g. ``units: 0-3`` for four images of it); or ``sets``: a list of sets, unit ``u``
    renders ``sets[u]``.
    """

    KINDS = ("channel", "neuron", "spatial")

    def __init__(self, layer: str, members: Sequence[int | Sequence[int]] | None = None, kind: str = "channel",
                 sets: Sequence[Sequence[int | Sequence[int]]] | None = None) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ConfigError(f"kind must be one of {self.KINDS}, not {kind!r}.")
        if (members is None) == (sets is None):
            raise ConfigError("Give either members (one set) or sets (one set per unit id), not both or neither.")
        groups = [members] if members is not None else list(sets)
        if not groups or any(len(g) == 0 for g in groups):
            raise ConfigError("Every set needs at least one member.")
        width = {"channel": 1, "neuron": 3, "spatial": 2}[kind]
        self.layer, self.kind = layer, kind
        self.fixed = members is not None
        self.unit = 0 if self.fixed else None
        self.sets: list[list[tuple[int, ...]]] = []
        for group in groups:
            parsed = [tuple(int(v) for v in (m if isinstance(m, (list, tuple)) else [m])) for m in group]
            bad = [m for m in parsed if len(m) not in (width, width - 1) or (kind == "channel" and len(m) != 1)]
            if bad:
                raise ConfigError(f"A {kind} member is {'an index' if kind == 'channel' else f'{width} numbers'}, got {list(bad[0])}.")
            self.sets.append(parsed)

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        shape = shapes[self.layer]
        channels = shape[-1] if len(shape) == 2 else shape[0]
        rows, cols = _grid(shape)
        for group in self.sets:
            for m in group:
                self._flat(m, channels, rows, cols)
        return None if self.fixed else len(self.sets)

    def _flat(self, member: tuple[int, ...], channels: int, rows: int, cols: int) -> tuple[int | None, int | None]:
        """(channel or None, flat position or None) of a member, checked against the layer's shape."""
        if self.kind == "channel":
            c, pos = member[0], None
        elif self.kind == "neuron":
            c, rest = member[0], member[1:]
            pos = self._position(rest, rows, cols)
        else:
            c, pos = None, self._position(member, rows, cols)
        if c is not None and not 0 <= c < channels:
            raise ConfigError(f"Channel {c} of {list(member)} is out of range for layer {self.layer!r} ({channels} channels).")
        return c, pos

    def _position(self, yx: tuple[int, ...], rows: int, cols: int) -> int:
        y, x = (0, yx[0]) if len(yx) == 1 else yx
        if not (0 <= y < rows and 0 <= x < cols):
            raise ConfigError(f"Position {list(yx)} lies outside the {rows}x{cols} map of layer {self.layer!r}.")
        return y * cols + x

    def _set_score(self, acts: torch.Tensor, group: list[tuple[int, ...]], rows: int, cols: int) -> torch.Tensor:
        """(B, C, P) activations -> (B,) mean over the set's members."""
        parts = []
        for member in group:
            c, pos = self._flat(member, acts.shape[1], rows, cols)
            if pos is None:
                parts.append(acts[:, c].mean(-1))
            elif c is None:
                parts.append(acts[:, :, pos].mean(1))
            else:
                parts.append(acts[:, c, pos])
        return torch.stack(parts, 1).mean(1)

    def score(self, batch: RenderBatch) -> torch.Tensor:
        raw = batch.acts[self.layer]
        acts = channels_first(raw)
        rows, cols = (acts.shape[2], acts.shape[3]) if acts.dim() == 4 else (1, acts.shape[2])
        acts = acts.flatten(2)
        if self.kind != "channel" and raw.dim() == 2:
            raise ConfigError(f"Layer {self.layer!r} has no spatial positions; use kind='channel'.")
        units = self.units_for(batch)
        out = torch.zeros(units.shape[0], dtype=acts.dtype, device=acts.device)
        for s in units.unique().tolist():
            if not 0 <= s < len(self.sets):
                raise ConfigError(f"Unit {s} has no set: UnitSet has {len(self.sets)} set(s).")
            rows_of_s = units == s
            out = torch.where(rows_of_s, self._set_score(acts, self.sets[s], rows, cols), out)
        return out

    def describe(self) -> str:
        what = str([list(m) if len(m) > 1 else m[0] for m in self.sets[0]]) if self.fixed else f"{len(self.sets)} sets"
        return f"UnitSet({self.layer}, {self.kind}, {what})"


__all__ += ["Spatial", "UnitSet"]
