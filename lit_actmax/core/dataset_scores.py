"""Scoring dataset images for units: every image's score for every unit, an exact top-k merge, and the objective an
index names. Plain torch; :mod:`lit_actmax.lightning.dataset_examples` streams a folder through them.

A unit's score is the objective on the image (``Channel``: mean over positions, ``ClassLogit``: the logit,
``Neuron``: the centre position, ...). Top-k lists are exact: ties go to the smaller image id, so merging several
lists gives the same answer as sorting all scores at once.
"""

from __future__ import annotations

import re

import torch

from ..errors import ConfigError
from ..objectives import Channel, ClassLogit, Neuron, Objective, RenderBatch

__all__ = ["merge_topk", "unit_scores", "objective_from_text"]


def merge_topk(values: torch.Tensor, ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the ``k`` largest of (U, M) ``values``; ties go to the smaller id; empty slots (id -1) last.

    Returns (U, k) values and (U, k) ids.
    """
    # empty slots sort after every real entry, whatever its value
    empty = ids < 0
    key_ids = torch.where(empty, torch.full_like(ids, torch.iinfo(torch.long).max), ids)
    order = torch.argsort(key_ids, dim=1, stable=True)
    values, ids, empty = values.gather(1, order), ids.gather(1, order), empty.gather(1, order)
    ranked = torch.where(empty, torch.full_like(values, float("-inf")), values)
    order = torch.argsort(ranked, dim=1, descending=True, stable=True)[:, :k]
    return values.gather(1, order), ids.gather(1, order)


def unit_scores(objective: Objective, acts: dict[str, torch.Tensor], units: torch.Tensor,
                budget: int = 1 << 24) -> torch.Tensor:
    """Every image's score for every unit: (B, U), by the objective's ``activation``.

    Plain ``Channel`` and ``ClassLogit`` read a (B, C) summary directly; any other objective sees the activations
    repeated once per unit (in chunks of at most ``budget`` elements).
    """
    units = units.to(next(iter(acts.values())).device)
    fast = _summary(objective, acts)
    if fast is not None:
        return fast[:, units]
    b = next(iter(acts.values())).shape[0]
    per_image = sum(a[0].numel() for a in acts.values())
    chunk = max(1, budget // max(1, b * per_image))
    out = []
    for part in units.split(chunk):
        repeated = {name: a.repeat_interleave(part.numel(), dim=0) for name, a in acts.items()}
        batch = RenderBatch(acts=repeated, units=part.repeat(b))
        out.append(objective.activation(batch).view(b, part.numel()))
    return torch.cat(out, dim=1)


def _summary(objective: Objective, acts: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """(B, C) scores of all channels for the common objectives, or None."""
    if type(objective) is Channel and objective.unit is None:
        return objective.channel_means(acts)
    if type(objective) is ClassLogit and objective.unit is None and objective.normalize == "logit":
        raw = acts[objective.layer]
        return objective.layout_of(raw).channels_first(raw).flatten(2).mean(-1)
    return None


_OBJECTIVES = {"Channel": Channel, "ClassLogit": ClassLogit, "Neuron": Neuron}


def objective_from_text(text: str) -> Objective:
    """``"Channel(features.8)"``, ``"ClassLogit(output)"``, ``"Neuron(blocks.6)"`` (an index's ``objective``)."""
    match = re.fullmatch(r"\s*(\w+)\(\s*([^,()\s]+)\s*\)\s*", text)
    if not match or match.group(1) not in _OBJECTIVES:
        raise ConfigError(f"Cannot score dataset examples for objective {text!r}; pass --objective as "
                         f"{' / '.join(f'{n}(<layer>)' for n in _OBJECTIVES)}.")
    return _OBJECTIVES[match.group(1)](match.group(2))
