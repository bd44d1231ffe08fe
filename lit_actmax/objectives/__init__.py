"""Objectives: what to maximize. Each scores every image of a batch for its own unit and returns ``(B,)``.

One batch can hold many different units: image ``b`` targets unit ``batch.units[b]`` unless the objective was
built with a fixed ``unit``. Objectives compose like the math they stand for::

    Channel("features.8", 3) - 0.05 * TotalVariation()
    ClassLogit() + 0.5 * Diversity("_blocks.10")

Activations come in the layouts of :mod:`lit_actmax.backbones.layouts`: ``"BCHW"`` (convolutions), ``"BHWC"`` (channels
last: ConvNeXt blocks, Swin), ``"BC"`` (linear layers) and ``"BNC"`` tokens (special tokens first, then a patch
grid). :meth:`Renderer.validate` gives every term the probe's :class:`~lit_actmax.backbones.layouts.LayerLayout` per layer
(:meth:`Objective.use_layouts`); ``layout=`` states it where the probe cannot tell (and wins over it). A term used
by hand on activations no probe has seen reads them by rank: ``(B, C, H, W)``, ``(B, N, C)`` (no special token),
``(B, C)``. Terms marked ``is_regularizer`` (total variation, diversity, ...) are part of the
loss but not of the reported *activation*.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones.layouts import LayerLayout, convention_layout
from ..backbones.probe import OUTPUT
from ..errors import ConfigError

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
    "merge_stated_layouts",
    "TOKENS",
]

#: What ``Channel`` averages on a token layer: the patch tokens, the class token (the first one), or every token.
TOKENS = ("patch", "class", "all")


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


def _take_channel(acts: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """(B, C, ...) and (B,) -> (B, ...): each image's own channel."""
    index = units.view(-1, *([1] * (acts.dim() - 1))).expand(-1, 1, *acts.shape[2:])
    return acts.gather(1, index).squeeze(1)


class _ChannelObjective(Objective):
    def __init__(self, layer: str, unit: int | None = None, layout: str | None = None) -> None:
        super().__init__()
        self.layer = layer
        self.unit = unit
        if layout is not None:
            LayerLayout.parse(layout)  # a bad statement fails here, not at the first step
            self.layout = layout

    def num_units(self, shapes: dict[str, tuple[int, ...] | LayerLayout]) -> int | None:
        """The layer's true channel count; ``shapes``: ``{layer: LayerLayout}`` (the probe's) or per-image shapes."""
        return self.layout_of(shapes[self.layer]).channels

    def describe(self) -> str:
        unit = "" if self.unit is None else f", {self.unit}"
        return f"{type(self).__name__}({self.layer}{unit})"


class ClassLogit(_ChannelObjective):
    """The logit (or log-probability) of each image's class: unit ``u`` of a ``(B, C)`` output layer.

    ``normalize``: ``"logit"`` (raw, default), ``"log_softmax"`` or ``"softmax"`` over the classes.
    Spatial outputs are averaged over positions first.
    """

    def __init__(self, layer: str = OUTPUT, unit: int | None = None, normalize: str = "logit",
                 layout: str | None = None) -> None:
        super().__init__(layer, unit, layout)
        if normalize not in ("logit", "log_softmax", "softmax"):
            raise ConfigError(f"normalize must be 'logit', 'log_softmax' or 'softmax', not {normalize!r}.")
        self.normalize = normalize

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = batch.acts[self.layer]
        logits = self.layout_of(acts).channels_first(acts).mean(-1)  # (B, C)
        if self.normalize == "log_softmax":
            logits = logits.log_softmax(-1)
        elif self.normalize == "softmax":
            logits = logits.softmax(-1)
        return logits.gather(1, self.units_for(batch).view(-1, 1)).squeeze(1)


class Channel(_ChannelObjective):
    """Mean activation of each image's channel over all positions, in any layout. ``(B, ...) -> (B,)``.

    On a token layer ``tokens`` says which: ``"patch"`` (default: the patch tokens), ``"class"`` (the class token,
    the first one) or ``"all"`` (every token, special ones included). Other layouts ignore it.
    """

    def __init__(self, layer: str, unit: int | None = None, tokens: str = "patch", layout: str | None = None) -> None:
        super().__init__(layer, unit, layout)
        if tokens not in TOKENS:
            raise ConfigError(f"tokens must be one of {TOKENS}, not {tokens!r}.")
        if tokens != "patch":  # an attribute only when not the default: earlier runs' fingerprints stay valid
            self.tokens = tokens

    @property
    def token_choice(self) -> str:
        return getattr(self, "tokens", "patch")

    def positions(self, raw: torch.Tensor) -> torch.Tensor:
        """The layer's activations (B, ...) -> (B, C, P): every channel at the positions (or tokens) averaged."""
        layout = self.layout_of(raw)
        if layout.is_tokens and self.token_choice == "class":
            if layout.special < 1:
                raise ConfigError(f"Layer {self.layer!r} has no class token ({layout.describe()}); "
                                  "use tokens='patch' or 'all'.")
            return layout.special_tokens(raw)[..., :1]
        if layout.is_tokens and self.token_choice == "patch" and layout.special:
            return layout.patches(raw).flatten(2)
        return layout.channels_first(raw).flatten(2)

    def channel_means(self, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, C): every channel's score at once (what :meth:`score` takes one channel of per image)."""
        return self.positions(acts[self.layer]).mean(-1)

    def score(self, batch: RenderBatch) -> torch.Tensor:
        return _take_channel(self.positions(batch.acts[self.layer]), self.units_for(batch)).mean(-1)

    def describe(self) -> str:
        text = super().describe()
        return text if self.token_choice == "patch" else f"{text[:-1]}, tokens={self.token_choice})"


class Neuron(_ChannelObjective):
    """One channel at one position: the spatial centre by default, or ``(y, x)``, in any layout. ``(B, ...) -> (B,)``.

    On a token layer ``(y, x)`` addresses the patch grid (default: its centre); ``x`` alone is a token index
    counting the special tokens (``x=0``: the class token).
    """

    def __init__(self, layer: str, unit: int | None = None, y: int | None = None, x: int | None = None,
                 layout: str | None = None) -> None:
        super().__init__(layer, unit, layout)
        self.y, self.x = y, x

    def score(self, batch: RenderBatch) -> torch.Tensor:
        raw = batch.acts[self.layer]
        layout = self.layout_of(raw)
        units = self.units_for(batch)
        if layout.kind == "BC":
            return _take_channel(layout.channels_first(raw), units)[:, 0]
        if layout.is_tokens and self.y is None and self.x is not None:
            tokens = _take_channel(layout.channels_first(raw), units)  # (B, N)
            if not 0 <= self.x < tokens.shape[1]:
                raise ConfigError(f"Token {self.x} lies outside the {tokens.shape[1]} tokens of layer {self.layer!r}.")
            return tokens[:, self.x]
        plane = _take_channel(layout.patches(raw), units)  # (B, H, W): the map or the patch grid
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


#: File types :func:`load_directions` reads.
DIRECTION_FILE_TYPES = (".pt", ".pth", ".npy", ".npz", ".safetensors")


def _read_direction_file(path: Path) -> torch.Tensor | dict[str, torch.Tensor]:
    """The raw contents of a direction file: one tensor, or named tensors (``.npz``, ``.safetensors``, a dict)."""
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        return torch.load(path, map_location="cpu", weights_only=True)
    if suffix in (".npy", ".npz"):
        import numpy as np

        data = np.load(path, allow_pickle=False)
        if suffix == ".npy":
            return torch.from_numpy(np.asarray(data))
        with data:
            return {name: torch.from_numpy(np.asarray(data[name])) for name in data.files}
    try:
        from safetensors.torch import load_file
    except ImportError:  # a declared dependency; absent only in an environment installed without it
        raise ConfigError(f"Reading {str(path)!r} needs the safetensors package: pip install safetensors.") from None
    return load_file(str(path), device="cpu")


def _named_tensors(value: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in nested mappings, by dotted name (``{"sae": {"W_dec": t}}`` -> ``{"sae.W_dec": t}``)."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    if isinstance(value, dict):
        found: dict[str, torch.Tensor] = {}
        for name, item in value.items():
            found.update(_named_tensors(item, f"{prefix}.{name}" if prefix else str(name)))
        return found
    return {}


def load_directions(path: str | os.PathLike, key: str | None = None) -> torch.Tensor:
    """Read direction vectors from a file: ``.pt``/``.pth`` (a tensor, or a dict of tensors), ``.npy``, ``.npz`` or
    ``.safetensors``; float32 on the CPU, as stored (rows are transposed by :class:`Direction`, not here).

    A file of several tensors (a dict, ``.npz``, ``.safetensors``) gives its only 2-D tensor, or the one named
    ``key`` (nested dicts by dotted name, e.g. ``"state_dict.decoder.weight"``). Every problem (a missing file, an
    unknown type, an unreadable file, no or several candidates, a rank other than 1 or 2, non-finite values) is one
    :class:`ConfigError` sentence.
    """
    file = Path(path)
    if file.suffix.lower() not in DIRECTION_FILE_TYPES:
        raise ConfigError(f"Direction file {str(path)!r} is not one of {', '.join(DIRECTION_FILE_TYPES)}; "
                          "save the vectors as a tensor in one of them.")
    if not file.is_file():
        raise ConfigError(f"Direction file {str(path)!r} does not exist; check the path (relative paths start "
                          f"at the working directory, {os.getcwd()}).")
    try:
        content = _read_direction_file(file)
    except ConfigError:
        raise
    except Exception as error:  # torch, numpy and safetensors each raise their own types for a damaged file
        raise ConfigError(f"Direction file {str(path)!r} cannot be read as {file.suffix} ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else 'no details'}).") from None
    if isinstance(content, torch.Tensor):
        if key is not None:
            raise ConfigError(f"Direction file {str(path)!r} holds one unnamed tensor; drop key ({key!r}).")
        tensor = content
    else:
        named = _named_tensors(content)
        shown = ", ".join(f"{n} {list(t.shape)}" for n, t in list(named.items())[:8]) + (", ..." if len(named) > 8 else "")
        if key is not None:
            if key not in named:
                raise ConfigError(f"Direction file {str(path)!r} has no tensor named {key!r}; it holds: "
                                  f"{shown or 'no tensors'}.")
            tensor = named[key]
        else:
            matrices = [n for n, t in named.items() if t.dim() == 2]
            if len(matrices) != 1:
                what = "no 2-D tensor" if not matrices else f"{len(matrices)} 2-D tensors"
                raise ConfigError(f"Direction file {str(path)!r} holds {what} ({shown or 'nothing'}); name the one "
                                  "to use with key (e.g. key: W_dec).")
            tensor = named[matrices[0]]
    if tensor.dim() not in (1, 2) or tensor.numel() == 0:
        where = f" {key!r}" if key is not None else ""
        raise ConfigError(f"Direction file {str(path)!r}{where} holds a tensor of shape {list(tensor.shape)}; "
                          "directions must be one vector (C,) or a matrix (U, C) with a row per unit.")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ConfigError(f"Direction file {str(path)!r} holds {tensor.dtype} values; directions must be real numbers.")
    tensor = tensor.detach().to(torch.float32)
    if not bool(torch.isfinite(tensor).all()):
        raise ConfigError(f"Direction file {str(path)!r} holds NaN or infinite values; fix or drop those rows.")
    return tensor


__all__ += ["load_directions"]


class Direction(Objective):
    """Projection of each position's channel vector onto a direction, averaged over positions.

    ``directions``: one vector (C,) or a matrix (U, C) whose row ``u`` is unit ``u``'s direction, given inline or
    as the path of a file (:func:`load_directions`: ``.pt``, ``.npy``, ``.npz``, ``.safetensors``), so a sparse
    autoencoder's decoder or a linear probe's weight matrix renders whole (``units: 0-4095``). ``key``: which tensor
    of a file that holds several (``W_dec``, ``decoder.weight``). ``transpose``: the matrix is stored (C, U), one
    column per unit (a ``nn.Linear`` decoder's ``weight``). ``metric``: ``"dot"`` (projection on the
    unit-normalized direction) or ``"cosine"`` (cosine similarity).
    """

    def __init__(
        self, layer: str, directions: str | Path | Sequence[float] | Sequence[Sequence[float]] | torch.Tensor,
        metric: str = "dot", unit: int | None = None, key: str | None = None, transpose: bool = False,
    ) -> None:
        super().__init__()
        if metric not in ("dot", "cosine"):
            raise ConfigError(f"metric must be 'dot' or 'cosine', not {metric!r}.")
        self.layer, self.metric, self.unit, self.key, self.transpose = layer, metric, unit, key, bool(transpose)
        if isinstance(directions, (str, os.PathLike)):
            vectors = load_directions(directions, key)
        else:
            if key is not None:
                raise ConfigError("key names a tensor inside a directions file; give directions as a file path.")
            vectors = torch.as_tensor(directions, dtype=torch.float32)
        if vectors.dim() not in (1, 2):
            raise ConfigError(f"directions must be one vector (C,) or a matrix (U, C), not shape {list(vectors.shape)}.")
        if self.transpose:
            vectors = vectors.T if vectors.dim() == 2 else vectors
        if vectors.dim() == 1:
            vectors = vectors.unsqueeze(0)
            self.unit = 0 if unit is None else unit
        self.register_buffer("directions", F.normalize(vectors, dim=1))

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        return self.directions.shape[0]

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = self.layout_of(batch.acts[self.layer]).channels_first(batch.acts[self.layer])  # (B, C, P)
        if acts.shape[1] != self.directions.shape[1]:
            hint = (" (the matrix looks stored one column per unit: set transpose=True)"
                    if self.directions.shape[0] == acts.shape[1] and not self.transpose else "")
            raise ConfigError(
                f"Direction vectors have {self.directions.shape[1]} channels but layer {self.layer!r} has "
                f"{acts.shape[1]}{hint}."
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
        acts = self.layout_of(batch.acts[self.layer]).channels_first(batch.acts[self.layer])  # (B, C, P)
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
def _grid(layout: LayerLayout) -> tuple[int, int]:
    """The (rows, columns) of a layer's positions: a map's (H, W); every token of a sequence in one row (1, N)."""
    if layout.kind in ("BCHW", "BHWC"):
        return layout.grid
    if layout.is_tokens:
        return 1, layout.shape[0]
    return 1, 1


def _positions(layout: LayerLayout, acts: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """(B, ...) -> (B, C, P) and the (rows, columns) of the P positions (tokens: one row of every token)."""
    flat = layout.channels_first(acts)
    if layout.kind in ("BCHW", "BHWC"):
        rows, cols = layout.grid_of(acts)
        return flat, rows, cols
    return flat, 1, flat.shape[-1]


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

    def num_units(self, shapes: dict[str, tuple[int, ...] | LayerLayout]) -> int | None:
        layout = self.layout_of(shapes[self.layer])
        if layout.kind == "BC":
            raise ConfigError(f"Layer {self.layer!r} has no spatial positions (shape {layout.shape}); "
                              "select channels instead.")
        rows, cols = _grid(layout)
        return None if self._fixed(rows, cols) is not None else rows * cols

    def score(self, batch: RenderBatch) -> torch.Tensor:
        layout = self.layout_of(batch.acts[self.layer])
        if layout.kind == "BC":
            raise ConfigError(f"Layer {self.layer!r} has no spatial positions; select channels instead.")
        acts, rows, cols = _positions(layout, batch.acts[self.layer])
        plane = acts.mean(1)  # (B, P)
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

    def num_units(self, shapes: dict[str, tuple[int, ...] | LayerLayout]) -> int | None:
        layout = self.layout_of(shapes[self.layer])
        channels = layout.channels
        rows, cols = _grid(layout)
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
        layout = self.layout_of(raw)
        acts, rows, cols = _positions(layout, raw)
        if self.kind != "channel" and layout.kind == "BC":
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
