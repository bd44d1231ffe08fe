"""Unit selections: ``"0-999"``, ``"1,5,9"``, ``"0-99:10"`` (every 10th), ``130`` or ``[1, 2, 3]``."""

from __future__ import annotations

from typing import Sequence

from ..errors import UnitSpecError

__all__ = ["parse_units", "UnitSpecError", "MAX_UNITS"]

#: The most units one run renders; a selection beyond it is refused before any list is built.
MAX_UNITS = 1_000_000


def parse_units(spec: str | int | Sequence[int]) -> list[int]:
    """Turn a unit selection into a list of distinct unit ids, in the given order."""
    if isinstance(spec, bool):
        raise UnitSpecError(f"units must be ids such as '0-7', '1,5,9' or [1, 5, 9], not {spec!r}.")
    if isinstance(spec, int):
        units = [spec]
    elif isinstance(spec, str):
        units = []
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            try:
                span, _, step = part.partition(":")
                if "-" in span[1:]:
                    first, last = span.split("-", 1) if not span.startswith("-") else (span, "")
                    selected = range(int(first), int(last) + 1, int(step or 1))
                    if len(units) + len(selected) > MAX_UNITS:
                        raise UnitSpecError(
                            f"The unit selection {spec!r} names {len(units) + len(selected):,} units; one run renders "
                            f"at most {MAX_UNITS:,}: split it into several runs."
                        )
                    units.extend(selected)
                else:
                    units.append(int(span))
            except UnitSpecError:
                raise
            except ValueError:
                raise UnitSpecError(
                    f"Cannot read units {spec!r}: write ranges and lists such as '0-7', '0-999:10' or '1,5,9'."
                ) from None
    else:
        units = [int(u) for u in spec]
    if not units:
        raise UnitSpecError(f"The unit selection {spec!r} is empty; give at least one unit id.")
    negative = [u for u in units if u < 0]
    if negative:
        raise UnitSpecError(f"Unit ids must be >= 0, got {negative[:5]}.")
    return list(dict.fromkeys(units))
