"""What a run was asked to render, checked before any model loads, then resolved against the model.

A run names its units in one of two ways: ids of one objective (``units="0-7"`` with ``objective=Channel(...)``), or
a selection per layer (``units={"_blocks.3": "all", "output": "0-999:10"}`` with ``objective_kind``, see
:mod:`lit_actmax.core.layer_selection`). :meth:`UnitRequest.check` refuses a mix of the two, a bad selection or bad
counts before anything is loaded; :meth:`UnitRequest.plan` builds the :class:`~lit_actmax.core.renderer.Renderer`
for a loaded backbone, dry-runs it (``"all"`` needs the layers' channel counts) and returns the run's
:class:`~lit_actmax.core.schedule.UnitSchedule`. Plain torch: a plain loop, a notebook and ``ActMaxModule`` use it
alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..backbones.backbone import Backbone
from ..errors import ConfigError, UnitSpecError
from ..objectives.base import Objective
from ..objectives.per_layer import OBJECTIVE_KINDS, PerLayer, check_objective_kind, objective_for
from .layer_selection import is_layer_selection, resolve_units, select_layers
from .renderer import Renderer
from .resources import resource_error
from .schedule import UnitSchedule
from .units import MAX_UNITS, parse_units

__all__ = ["UnitRequest", "UnitSelection"]

#: Units as a run takes them: ids of one objective (``"0-7"``, ``"1,5,9"``, an int, a list) or a selection per layer.
UnitSelection = str | int | Sequence[int] | Mapping[str, str | int | Sequence[int]]


@dataclass(frozen=True)
class UnitRequest:
    """The units a run was asked for, checked (see the module docstring).

    ``schedule`` is the run's schedule for ids of one objective; with units across layers it is a stand-in until
    :meth:`plan` knows the ids (it already checked the counts: batch size, variants, epochs, steps).
    """

    units: UnitSelection
    objective: Objective | None
    objective_kind: str
    schedule: UnitSchedule

    @property
    def across_layers(self) -> bool:
        """Whether the units are a selection per layer (each layer with the objective of ``objective_kind``)."""
        return is_layer_selection(self.units)

    @classmethod
    def check(cls, units: UnitSelection, objective: Objective | None, objective_kind: str, batch_size: int,
              variants: int, epochs: int, steps_per_epoch: int) -> UnitRequest:
        """Check the request without a model: a :class:`ConfigError` or :class:`UnitSpecError` with one sentence."""
        across_layers = is_layer_selection(units)
        if across_layers and objective is not None:
            raise ConfigError("With units per layer the objective of each layer comes from objective_kind "
                              f"({', '.join(OBJECTIVE_KINDS)}); drop objective.")
        check_objective_kind(objective_kind)
        if objective_kind != "auto" and not across_layers:
            raise ConfigError(f"objective_kind ({objective_kind!r}) applies to units per layer only; give units as "
                              "{layer: units} or set the objective itself.")
        ids = [0] if across_layers else parse_units(units)  # type: ignore[arg-type]
        return cls(units, objective, objective_kind, UnitSchedule(ids, batch_size, variants, epochs, steps_per_epoch))

    def plan(self, backbone: Backbone, **renderer_options: Any) -> tuple[Renderer, UnitSchedule]:
        """The renderer of this request on ``backbone`` (``renderer_options``: the other arguments of
        :class:`~lit_actmax.core.renderer.Renderer` but ``objective`` and ``steps``), validated with one dry run, and
        the run's schedule (units across layers resolved in model order, ``"all"`` counted). A user's own model comes
        back as it came (``requires_grad``, train/eval), also when a check fails."""
        schedule = self.schedule
        try:
            chosen = select_layers(self.units, [n for n, _ in backbone.model.named_modules()]) if self.across_layers else []  # type: ignore[arg-type]
            objective = (PerLayer([objective_for(self.objective_kind, layer) for layer, _ in chosen]) if chosen
                         else self.objective)
            renderer = Renderer(backbone, objective, steps=schedule.steps_per_unit, **renderer_options)
            renderer.validate([] if chosen else schedule.units)
            if chosen:  # "all" needs the layers' unit counts, which the dry run of validate found
                keys = [(t, u) for t, (layer, selected) in enumerate(chosen)
                        for u in resolve_units(layer, selected, renderer.unit_count(t))]
                if len(keys) > MAX_UNITS:
                    raise UnitSpecError(f"The selection per layer names {len(keys):,} units; one run renders at most "
                                        f"{MAX_UNITS:,}: split it into several runs.")
                schedule = UnitSchedule([u for _, u in keys], schedule.batch_size, schedule.variants, schedule.epochs,
                                        schedule.steps_per_epoch, targets=[t for t, _ in keys])
                renderer.check_units(schedule.units, schedule.targets)
        except (RuntimeError, MemoryError) as error:  # a size too big for the machine: one sentence, not a traceback
            resource = resource_error(error, "Checking the settings on one image")
            if resource is None:
                raise
            raise resource from None
        finally:
            if backbone.user_state is not None:
                backbone.user_state.restore(backbone.model)
        return renderer, schedule
