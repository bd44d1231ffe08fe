"""The objective of a run: one objective per *target*, and image ``b`` of a batch scored by target ``batch.targets[b]``.

The renderer always scores through a :class:`PerLayer`: a run of one objective is the one-target case
(:meth:`PerLayer.of`), a run of units across layers (:mod:`lit_actmax.core.layer_selection`) has one target per layer,
each with the objective of one *kind* (:data:`OBJECTIVE_KINDS`, :func:`objective_for`): ``"channel"``
(:class:`~lit_actmax.objectives.Channel`), ``"neuron"`` (the centre position, :class:`~lit_actmax.objectives.Neuron`),
``"class"`` (:class:`~lit_actmax.objectives.ClassLogit`) or ``"auto"`` (``class`` for ``output``, ``channel`` elsewhere).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from ..backbones.layouts import LayerLayout
from ..backbones.probe import OUTPUT
from ..errors import ConfigError
from .activation import Channel, ClassLogit, Neuron
from .base import Objective, RenderBatch, merge_stated_layouts

__all__ = ["OBJECTIVE_KINDS", "PerLayer", "check_objective_kind", "objective_for"]

#: The objective kinds a selection per layer can apply to each layer.
OBJECTIVE_KINDS = ("auto", "channel", "neuron", "class")

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


class PerLayer(Objective):
    """One objective per target; image ``b`` is scored by ``targets[batch.targets[b]]``. ``(B,)`` scores.

    Args:
        targets: the targets' objectives, in the run's order (target ``t`` is ``targets[t]``).
        across_layers: a run of units across layers (units are named ``"<layer>:<id>"``, records filed per layer);
            False for the one objective of a run (:meth:`of`), which describes itself as that objective.
    """

    def __init__(self, targets: Sequence[Objective], across_layers: bool = True) -> None:
        super().__init__()
        if not targets:
            raise ConfigError("PerLayer needs at least one target objective.")
        self.targets = nn.ModuleList(targets)
        self.across_layers = bool(across_layers)

    @classmethod
    def of(cls, objective: Objective) -> PerLayer:
        """The objective a renderer scores through: ``objective`` itself if it is a ``PerLayer``, else ``objective``
        as the one target of a run of one objective."""
        return objective if isinstance(objective, PerLayer) else cls([objective], across_layers=False)

    def terms(self) -> Iterator[tuple[float, Objective]]:
        """The leaf terms of every target (e.g. to bind an ``ImageDistance`` to the renderer)."""
        for target in self.targets:
            yield from target.terms()

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
        if len(self.targets) == 1:  # one target scores the whole batch
            return self.targets[0].activation(batch) if activation else self.targets[0].score(batch)
        if batch.targets is None:
            raise ConfigError("A batch of a PerLayer objective of several targets needs targets (one per image).")
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
        if not self.across_layers:
            return self.targets[0].describe()
        return f"PerLayer({', '.join(t.describe() for t in self.targets)})"

    def describe_setting(self, describe: Callable[[Any], Any]) -> str:
        """This objective in a settings fingerprint (:func:`~lit_actmax.run.checkpoint_state.describe_setting`): the
        one objective of a run as itself, else ``PerLayer(targets=[...])``."""
        if not self.across_layers:
            return describe(self.targets[0])
        return f"PerLayer(targets=[{', '.join(str(describe(t)) for t in self.targets)}])"

    def describe_target(self, target: int) -> str:
        return self.targets[target].describe()
