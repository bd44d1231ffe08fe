"""Units across layers: a unit is a (layer, index) pair, and one run can render units of many layers.

A selection per layer names layers exactly or by pattern, each with its own unit selection::

    {"_blocks.3": "all", "_blocks.10": "0-63", "output": "0-999:10"}
    {"_blocks.*": "0-7", "output": "0-999:100"}

In a pattern ``*`` matches within one dotted part of a name (``_blocks.*`` matches ``_blocks.3`` but not
``_blocks.3._bn0``) and ``**`` any number of parts; ``?`` and ``[...]`` work as in :mod:`fnmatch`. ``"all"`` is every
unit of the layer (its channel count, or the classes of ``output``). The run's objective has one target per selected
layer (:class:`~lit_actmax.objectives.per_layer.PerLayer`). A unit's image depends only on (config, seed, layer,
index): the seed of an image is its index (as in a one-layer run), so rendering ``_blocks.3`` unit 5 in a run of many
layers gives the image of unit 5 of a run of ``_blocks.3`` alone.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Mapping, Sequence

from ..backbones.probe import OUTPUT
from ..errors import ConfigError, UnitSpecError
from .units import MAX_UNITS, parse_units

__all__ = ["ALL_UNITS", "LayerSelection", "is_layer_selection", "match_layers", "resolve_units", "select_layers"]

#: The unit selection that means every unit of the layer.
ALL_UNITS = "all"

#: A selection per layer: ``{layer or pattern: units}`` (units as :func:`~lit_actmax.core.units.parse_units` reads them,
#: or ``"all"``).
LayerSelection = Mapping[str, "str | int | Sequence[int]"]


def is_layer_selection(units: object) -> bool:
    """Whether ``units`` selects units per layer (a mapping) rather than ids of one objective."""
    return isinstance(units, Mapping)


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

