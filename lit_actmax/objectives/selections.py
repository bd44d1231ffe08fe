"""Selections of midnite's PixelActivation (issue 3): all channels at a spatial position, several units at once."""

from __future__ import annotations

from typing import Sequence

import torch

from ..backbones.layouts import LayerLayout
from ..errors import ConfigError
from .base import Objective, RenderBatch

__all__ = ["Spatial", "UnitSet"]


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
