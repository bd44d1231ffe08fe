"""Objectives on one unit of a layer: a class logit, a channel's mean, one neuron, or a whole layer (DeepDream).

Every one reads its layer in the probe's layout (:class:`~lit_actmax.backbones.layouts.LayerLayout`): feature
maps, channels-last maps, ``(B, C)`` vectors and token sequences alike. ``(B, ...) -> (B,)``.
"""

from __future__ import annotations

import torch

from ..backbones.layouts import LayerLayout
from ..backbones.probe import OUTPUT
from ..errors import ConfigError
from .base import Objective, RenderBatch

__all__ = ["TOKENS", "ClassLogit", "Channel", "Neuron", "Layer"]

#: What ``Channel`` averages on a token layer: the patch tokens, the class token (the first one), or every token.
TOKENS = ("patch", "class", "all")


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
