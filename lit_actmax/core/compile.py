"""Speed options of :class:`~lit_actmax.lightning.module.ActMaxModule`: ``torch.compile`` that keeps the early exit.

The probe ends the forward pass by raising an exception from a forward hook once the target layer has run.
``torch.compile`` of the backbone alone cannot trace that (the exception leaves the compiled frame, so Dynamo
falls back to eager for the whole model). Compiling a *truncated forward* instead -- a function that calls the
backbone and catches the probe's exception itself -- traces into one graph that ends at the target layer:
layers after it are neither compiled nor run.

Recompiles happen when the image batch changes shape (a smaller last group, a resize callback); Dynamo marks the
changing dimension dynamic after the first recompile.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..backbones.probe import LayerProbe

__all__ = ["compile_probe"]

ProbeCall = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def compile_probe(probe: LayerProbe, **compile_kwargs: Any) -> ProbeCall:
    """A compiled ``probe(x)``: (B, C, H, W) model input -> ``{layer: activation}``, stopping at the last layer.

    ``compile_kwargs`` go to ``torch.compile`` (e.g. ``mode="max-autotune"``). The probe's hooks are attached.
    """
    probe.attach()
    compiled = torch.compile(probe.truncated_forward, **compile_kwargs)

    def run(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return probe.check_complete(compiled(x))

    return run
