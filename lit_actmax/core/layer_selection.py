"""Units across layers: a unit is a (layer, index) pair, and one run can render units of many layers.

A selection per layer names layers exactly or by pattern, each with its own unit selection::

    {"_blocks.3": "all", "_blocks.10": "0-63", "output": "0-999:10"}
    {"_blocks.*": "0-7", "output": "0-999:100"}

In a pattern ``*`` matches within one dotted part of a name (``_blocks.*`` matches ``_blocks.3`` but not
``_blocks.3._bn0``) and ``**`` any number of parts; ``?`` and ``[...]`` work as in :mod:`fnmatch`. ``"all"`` is every
unit of the layer (its channel count, or the classes of ``output``). Each layer gets the objective of one *kind*:
``"channel"`` (:class:`~lit_actmax.objectives.Channel`), ``"neuron"`` (the centre position,
:class:`~lit_actmax.objectives.Neuron`), ``"class"`` (:class:`~lit_actmax.objectives.ClassLogit`) or ``"auto"``
(``class`` for ``output``, ``channel`` elsewhere).

:class:`PerLayer` is the objective of such a run: its *targets* are the layers' objectives, and image ``b`` of a
batch is scored by target ``batch.targets[b]`` for its unit ``batch.units[b]``. A unit's image depends only on (config,
seed, layer, index): the seed of an image is its index (as in a one-layer run), so rendering ``_blocks.3`` unit 5
in a run of many layers gives the image of unit 5 of a run of ``_blocks.3`` alone.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Mapping, Sequence

import torch
from torch import nn

from ..backbones.layouts import LayerLayout
from ..backbones.probe import OUTPUT
from ..errors import ConfigError, UnitSpecError
from ..objectives import Channel, ClassLogit, Neuron, Objective, RenderBatch, merge_stated_layouts
from .units import MAX_UNITS, parse_units

__all__ = [
    "OBJECTIVE_KINDS",
    "ALL_UNITS",
    "PerLayer",
    "LayerSelection",
    "objective_for",
    "check_objective_kind",
    "match_layers",
    "select_layers",
    "is_layer_selection",
]

#: The objective kinds a selection per layer can apply to each layer.
OBJECTIVE_KINDS = ("auto", "channel", "neuron", "class")
#: The unit selection that means every unit of the layer.
ALL_UNITS = "all"

#: A selection per layer: ``{layer or pattern: units}`` (units as :func:`~lit_actmax.core.units.parse_units` reads them,
#: or ``"all"``).
LayerSelection = Mapping[str, "str | int | Sequence[int]"]


def is_layer_selection(units: object) -> bool:
    """Whether ``units`` selects units per layer (a mapping) rather than ids of one objective."""
    return isinstance(units, Mapping)


def check_objective_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`OBJECTIVE_KINDS`, else a :class:`ConfigError` listing them."""
    if kind not in OBJECTIVE_KINDS:
        raise ConfigError(f"objective_kind must be one of {', '.join(OBJECTIVE_KINDS)}, not {kind!r}.")
    return kind


def objective_for(kind: str, layer: str) -> Objective:
    """The objective of ``kind`` (one of :data:`OBJECTIVE_KINDS`) on ``layer``."""
    if check_objective_kind(kind) == "auto":
        kind = "class" if layer == OUTPUT else "channel"
    if kind == "class":
        return ClassLogit(layer)
    return Channel(layer) if kind == "channel" else Neuron(layer)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A dotted-name pattern -> a regex: ``*`` within one part, ``**`` across parts."""
    parts = []
    for part in pattern.split("."):
        if part == "**":
            parts.append(r"(?:[^.]+(?:\.[^.]+)*)")
        else:
            parts.append(fnmatch.translate(part).removeprefix("(?s:").removesuffix(r")\Z").replace(".*", "[^.]*"))
    return re.compile(r"\.".join(parts) + r"\Z")


def match_layers(pattern: str, names: Sequence[str]) -> list[str]:
    """The names (in the given order) that ``pattern`` matches: itself if it is a name, else by pattern."""
    if pattern in names:
        return [pattern]
    if not any(c in pattern for c in "*?["):
        return []
    regex = _pattern_regex(pattern)
    return [name for name in names if regex.match(name)]


def select_layers(selection: LayerSelection, names: Sequence[str]) -> list[tuple[str, str | int | list[int]]]:
    """Resolve a selection per layer against the model's layer ``names`` (in model order; ``"output"`` last).

    Returns ``[(layer, units)]`` in model order, each layer once (a layer named by two keys takes the later key's
    units). Raises :class:`ConfigError` for a key that matches no layer (naming the closest names), or an empty
    selection.
    """
    if not selection:
        raise ConfigError("The selection per layer is empty; give e.g. units: {'_blocks.3': 'all'}.")
    names = [n for n in names if n and n != OUTPUT] + [OUTPUT]
    chosen: dict[str, str | int | list[int]] = {}
    for key, units in selection.items():
        key = str(key)
        matched = match_layers(key, names)
        if not matched:
            close = difflib.get_close_matches(key, names, n=5, cutoff=0.5)
            hint = f" Closest names: {', '.join(close)}." if close else ""
            raise ConfigError(f"The layer selection {key!r} matches no layer of the model.{hint} Run `lit-actmax "
                              "layers <spec>` to list them; '*' matches within one dotted part, '**' across parts.")
        for name in matched:
            chosen[name] = units if isinstance(units, (str, int)) else [int(u) for u in units]
    order = {name: i for i, name in enumerate(names)}
    return sorted(chosen.items(), key=lambda item: order[item[0]])


def resolve_units(layer: str, units: str | int | Sequence[int], count: int | None) -> list[int]:
    """One layer's unit selection -> unit ids; ``"all"`` needs the layer's unit ``count``."""
    if isinstance(units, str) and units.strip().lower() == ALL_UNITS:
        if count is None:
            raise ConfigError(f"Layer {layer!r} has no countable units, so 'all' cannot be resolved; give ids.")
        if count > MAX_UNITS:
            raise UnitSpecError(f"Layer {layer!r} has {count:,} units; one run renders at most {MAX_UNITS:,}.")
        return list(range(count))
    return parse_units(units)


__all__ += ["resolve_units"]


class PerLayer(Objective):
    """One objective per target layer; image ``b`` is scored by ``targets[batch.targets[b]]``. ``(B,)`` scores.

    Args:
        targets: the layers' objectives, in the run's order (target ``t`` is ``targets[t]``).
    """

    def __init__(self, targets: Sequence[Objective]) -> None:
        super().__init__()
        if not targets:
            raise ConfigError("PerLayer needs at least one target objective.")
        self.targets = nn.ModuleList(targets)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for t in self.targets for name in t.layers))

    def layers_for(self, targets: Sequence[int]) -> tuple[str, ...]:
        wanted = {int(t) for t in targets}
        return tuple(dict.fromkeys(name for i, t in enumerate(self.targets) if i in wanted for name in t.layers))

    def target_layer(self, target: int) -> str:
        """The layer target ``target`` reads (its first)."""
        return self.targets[target].layers[0]

    def use_layouts(self, layouts: dict[str, LayerLayout]) -> None:
        for target in self.targets:
            target.use_layouts(layouts)

    def stated_layouts(self) -> dict[str, str]:
        return merge_stated_layouts(target.stated_layouts() for target in self.targets)

    def _dispatch(self, batch: RenderBatch, activation: bool) -> torch.Tensor:
        """(B,) each image scored by its own target (``activation``: the target's activation, without its
        regularizer terms)."""
        if batch.targets is None:
            if len(self.targets) != 1:
                raise ConfigError("A batch of a PerLayer objective needs targets (one per image).")
            targets = torch.zeros_like(batch.units)
        else:
            targets = batch.targets
        out: torch.Tensor | None = None
        for t in torch.unique(targets).tolist():
            rows = (targets == t).nonzero().flatten()
            part, objective = batch.select(rows), self.targets[int(t)]
            score = objective.activation(part) if activation else objective.score(part)
            out = score.new_zeros(batch.units.shape[0]) if out is None else out
            out = out.index_put((rows,), score.to(out.dtype))
        assert out is not None
        return out

    def score(self, batch: RenderBatch) -> torch.Tensor:
        return self._dispatch(batch, activation=False)

    def activation(self, batch: RenderBatch) -> torch.Tensor:
        return self._dispatch(batch, activation=True)

    def num_units_of(self, target: int, layouts: dict[str, LayerLayout]) -> int | None:
        """How many units target ``target`` addresses, given the probe's ``layouts``."""
        return self.targets[target].num_units(layouts)

    def describe(self) -> str:
        return f"PerLayer({', '.join(t.describe() for t in self.targets)})"

    def describe_target(self, target: int) -> str:
        return self.targets[target].describe()
