"""Layer layouts: which dimension of a layer's activation is the channel, which are positions, which are tokens.

A layout is one of

- ``"BCHW"``: channels first (convolutions);
- ``"BHWC"``: channels last (torchvision's ConvNeXt blocks and Swin, many timm models);
- ``"BC"``: one vector per image (linear layers, logits);
- ``"BNC"``: a token sequence, channels last, ``special`` class/register/distillation tokens *first*, then the
  patch tokens of a ``(gh, gw)`` grid in row-major order.

:func:`detect_layout` reads it from a dry run at two input sizes (the dimensions that scale with the input are
positions, the one that stays is the channel; for tokens ``N = special + gh * gw``), falling back to the module's
type, the model's patch size and a square-root fit where only one size runs (fixed-input transformers). Where it
cannot tell, it raises :class:`ProbeError` asking for the layout; the user states it as a string
(:meth:`LayerLayout.parse`): ``"BHWC"``, ``"BNC"`` (tokens, special tokens and grid detected), ``"BNC:1"`` (one
special token, square grid) or ``"BNC:1:14x14"``. The package's objectives take it as ``layout=``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..errors import ProbeError

__all__ = ["LAYOUTS", "LayerLayout", "detect_layout", "convention_layout", "model_patch_size"]

LAYOUTS = ("BCHW", "BHWC", "BC", "BNC")
#: Most special tokens a square-root fit accepts (class + distillation + registers).
MAX_SPECIAL = 8

# Modules whose 4-D output is channels first whatever its shape.
_CHANNELS_FIRST = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                   nn.AdaptiveMaxPool2d, nn.GroupNorm, nn.InstanceNorm2d)


def _ask(layer: str, shape: Sequence[int], why: str) -> str:
    return (f"Cannot tell the layout of layer {layer!r} (output {list(shape)} per image: {why}); state it with the "
            f"objective's layout= argument, e.g. layout='BCHW', 'BHWC', 'BC' or 'BNC:1' (tokens, 1 special token).")


@dataclass(frozen=True)
class LayerLayout:
    """One layer's layout: ``kind`` (see :data:`LAYOUTS`), ``channels``, ``grid`` (rows, columns of positions:
    the spatial map, the patch grid of tokens; ``(1, 1)`` for ``"BC"``), ``special`` tokens before the patches,
    and the per-image ``shape`` it was read from."""

    kind: str
    channels: int
    grid: tuple[int, int]
    special: int = 0
    shape: tuple[int, ...] = ()

    @property
    def is_tokens(self) -> bool:
        return self.kind == "BNC"

    def describe(self) -> str:
        """``BHWC 768ch 7x7`` / ``BNC 768ch 1+14x14`` / ``BC 1000ch``: the layers listing's text."""
        if self.kind == "BC":
            return f"BC {self.channels}ch"
        grid = f"{self.grid[0]}x{self.grid[1]}"
        return f"{self.kind} {self.channels}ch {f'{self.special}+' if self.is_tokens else ''}{grid}"

    # -- statements ---------------------------------------------------------------------------------------
    @staticmethod
    def parse(text: str) -> tuple[str, int | None, tuple[int, int] | None]:
        """``"BNC:1:14x14"`` -> ``("BNC", 1, (14, 14))``; ``"BHWC"`` -> ``("BHWC", None, None)``."""
        kind, *rest = str(text).strip().split(":")
        kind = kind.upper()
        bad = ProbeError(f"Layout {text!r} is not one of 'BCHW', 'BHWC', 'BC', 'BNC', 'BNC:<special tokens>' "
                         "or 'BNC:<special tokens>:<rows>x<columns>'.")
        if kind not in LAYOUTS or len(rest) > 2 or (rest and kind != "BNC"):
            raise bad
        special, grid = None, None
        try:
            if rest:
                special = int(rest[0])
            if len(rest) == 2:
                rows, cols = rest[1].lower().split("x")
                grid = (int(rows), int(cols))
        except ValueError:
            raise bad from None
        return kind, special, grid

    @classmethod
    def stated(cls, text: str, shape: Sequence[int], layer: str = "?", special: int | None = None) -> "LayerLayout":
        """The layout the user stated (``text``) applied to a per-image ``shape``; ``special`` fills in an unstated
        number of special tokens (from detection)."""
        kind, said_special, grid = cls.parse(text)
        shape = tuple(int(s) for s in shape)
        rank = {"BCHW": 3, "BHWC": 3, "BC": 1, "BNC": 2}[kind]
        if len(shape) != rank:
            raise ProbeError(f"Layer {layer!r} outputs {list(shape)} per image, which does not fit the stated layout "
                             f"{text!r} ({rank} dimension(s) after the batch).")
        if kind == "BCHW":
            return cls(kind, shape[0], (shape[1], shape[2]), 0, shape)
        if kind == "BHWC":
            return cls(kind, shape[2], (shape[0], shape[1]), 0, shape)
        if kind == "BC":
            return cls(kind, shape[0], (1, 1), 0, shape)
        n = shape[0]
        special = said_special if said_special is not None else special
        if grid is None:
            grid = square_fit(n, special)
            if grid is None:
                raise ProbeError(_ask(layer, shape, "its tokens form no square grid"))
            special = n - grid[0] * grid[1]
        special = n - grid[0] * grid[1] if special is None else special
        if special < 0 or special + grid[0] * grid[1] != n:
            raise ProbeError(f"Layer {layer!r} has {n} tokens, not {special} special + {grid[0]}x{grid[1]} patches: "
                             "correct the stated layout.")
        return cls(kind, shape[1], grid, special, shape)

    # -- reading activations ------------------------------------------------------------------------------
    def grid_of(self, acts: torch.Tensor) -> tuple[int, int]:
        """The (rows, columns) of positions of ``acts`` (B, ...), which may come at another image size than
        ``shape``: spatial dims as they are; tokens ``N - special`` patches in this layout's aspect."""
        if self.kind == "BCHW":
            return int(acts.shape[2]), int(acts.shape[3])
        if self.kind == "BHWC":
            return int(acts.shape[1]), int(acts.shape[2])
        if self.kind == "BC":
            return 1, 1
        patches = int(acts.shape[1]) - self.special
        rows, cols = self.grid
        if rows * cols == patches:
            return rows, cols
        side = math.sqrt(patches * rows / max(cols, 1))  # same aspect as the detected grid
        for r in sorted(range(1, patches + 1), key=lambda r: abs(r - side)):
            if patches % r == 0:
                return r, patches // r
        return 1, max(patches, 0)

    def channels_first(self, acts: torch.Tensor) -> torch.Tensor:
        """(B, ...) in this layout -> (B, C, P): every position (every token, special ones first)."""
        if self.kind == "BCHW":
            return acts.flatten(2)
        if self.kind == "BHWC":
            return acts.flatten(1, 2).transpose(1, 2)
        if self.kind == "BC":
            return acts.unsqueeze(-1)
        return acts.transpose(1, 2)

    def patches(self, acts: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, C, rows, cols): the spatial map, or the patch tokens on their grid."""
        rows, cols = self.grid_of(acts)
        if self.kind == "BCHW":
            return acts
        if self.kind == "BHWC":
            return acts.permute(0, 3, 1, 2)
        if self.kind == "BC":
            return acts.view(acts.shape[0], -1, 1, 1)
        return acts[:, self.special:].transpose(1, 2).reshape(acts.shape[0], -1, rows, cols)

    def special_tokens(self, acts: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, C, special): the class/register/distillation tokens."""
        return acts[:, : self.special].transpose(1, 2)


def convention_layout(shape: Sequence[int]) -> LayerLayout:
    """The layout by rank alone, for activations no probe has seen (objectives used by hand): (C, H, W) channels
    first, (N, C) tokens with no special token on a 1 x N grid, (C,) a vector."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return LayerLayout("BCHW", shape[0], (shape[1], shape[2]), 0, shape)
    if len(shape) == 2:
        return LayerLayout("BNC", shape[1], (1, shape[0]), 0, shape)
    if len(shape) == 1:
        return LayerLayout("BC", shape[0], (1, 1), 0, shape)
    return LayerLayout("BC", int(math.prod(shape)) if shape else 1, (1, 1), 0, shape)


def square_fit(n: int, special: int | None = None) -> tuple[int, int] | None:
    """(g, g) with ``n = special + g * g``; without ``special`` the fewest special tokens (up to MAX_SPECIAL)."""
    candidates = [special] if special is not None else range(0, min(MAX_SPECIAL, n - 1) + 1)
    for k in candidates:
        side = math.isqrt(max(n - k, 0))
        if side >= 1 and side * side == n - k and (special is not None or side >= 2):
            return side, side
    return None


def model_patch_size(model: nn.Module) -> tuple[int, int] | None:
    """The patch size a transformer declares (torchvision ``patch_size``, timm/open_clip ``patch_embed.patch_size``,
    transformers ``config.patch_size``), if any."""
    for module in model.modules():
        for owner in (module, getattr(module, "config", None)):
            size = getattr(owner, "patch_size", None)
            if isinstance(size, int) and size > 0:
                return size, size
            if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size):
                return int(size[0]), int(size[1])
    return None


def _tokens(layer: str, shapes: list[tuple[int, ...]], sizes: list[tuple[int, int]],
            patch: tuple[int, int] | None) -> LayerLayout:
    shape = shapes[0]
    n, channels = shape
    if len(shapes) == 2 and shapes[1][0] != n:  # tokens scale with the input's area
        (h1, w1), (h2, w2) = sizes
        per_patch = (h2 * w2 - h1 * w1) / (shapes[1][0] - n)  # pixels per patch token
        side = math.sqrt(per_patch) if per_patch > 0 else 0
        if side >= 1 and abs(side - round(side)) < 1e-6:
            rows, cols = h1 / round(side), w1 / round(side)
            if rows == int(rows) and cols == int(cols) and 0 <= n - rows * cols <= n:
                return LayerLayout("BNC", channels, (int(rows), int(cols)), int(n - rows * cols), shape)
    if patch is not None:
        rows, cols = sizes[0][0] // patch[0], sizes[0][1] // patch[1]
        if rows * cols and 0 <= n - rows * cols <= MAX_SPECIAL:
            return LayerLayout("BNC", channels, (rows, cols), n - rows * cols, shape)
    grid = square_fit(n)
    if grid is None:
        raise ProbeError(_ask(layer, shape, f"its {n} tokens form no square grid"))
    return LayerLayout("BNC", channels, grid, n - grid[0] * grid[1], shape)


def detect_layout(layer: str, module: nn.Module | None, shapes: Sequence[Sequence[int]],
                  sizes: Sequence[Sequence[int]], patch: tuple[int, int] | None = None) -> LayerLayout:
    """A layer's layout from its per-image output ``shapes`` at the model input ``sizes`` ((h, w) each; two runs,
    or one where the model takes a single size). ``module``: the layer's module (its type can decide);
    ``patch``: the model's patch size if it declares one. Raises :class:`ProbeError` where it cannot tell."""
    shapes = [tuple(int(s) for s in shape) for shape in shapes]
    sizes = [(int(h), int(w)) for h, w in sizes]
    shape = shapes[0]
    if len(shapes) == 2 and len(shapes[1]) != len(shape):
        raise ProbeError(_ask(layer, shape, f"its rank changes with the input size ({list(shapes[1])})"))
    if len(shape) == 1:
        return LayerLayout("BC", shape[0], (1, 1), 0, shape)
    if len(shape) == 2:
        if len(shapes) == 2 and shapes[1][1] != shape[1]:
            raise ProbeError(_ask(layer, shape, "its last dimension changes with the input size, so it is not a "
                                                "channels-last token sequence"))
        return _tokens(layer, shapes, sizes, patch)
    if len(shape) != 3:
        raise ProbeError(_ask(layer, shape, f"{len(shape)} dimensions after the batch"))
    if len(shapes) == 2:
        changed = {i for i in range(3) if shapes[1][i] != shape[i]}
        if changed == {1, 2}:
            return LayerLayout("BCHW", shape[0], (shape[1], shape[2]), 0, shape)
        if changed == {0, 1}:
            return LayerLayout("BHWC", shape[2], (shape[0], shape[1]), 0, shape)
        if changed:
            raise ProbeError(_ask(layer, shape, f"dimensions {sorted(changed)} change with the input size"))
    a, b, c = shape  # one size only, or a map that does not scale (pooled): square maps tell
    if b == c and a != b:
        return LayerLayout("BCHW", a, (b, c), 0, shape)
    if a == b and b != c:
        return LayerLayout("BHWC", c, (a, b), 0, shape)
    if isinstance(module, _CHANNELS_FIRST):
        return LayerLayout("BCHW", shape[0], (shape[1], shape[2]), 0, shape)
    if type(module) in (nn.LayerNorm, nn.Linear):  # these act on the last dimension: channels last
        return LayerLayout("BHWC", shape[2], (shape[0], shape[1]), 0, shape)
    raise ProbeError(_ask(layer, shape, "no dimension tells the channels from the positions"))
