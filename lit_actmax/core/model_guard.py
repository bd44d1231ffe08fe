"""``ModelGuard``: work on a model that is being trained (a render) and give everything back as it was.

Rendering a unit freezes the model (``requires_grad`` off, eval mode), hooks a layer, runs forwards and backwards
into an image and draws random numbers. Inside a training run none of that may show: ``with ModelGuard(model):``
captures the model's :class:`~lit_actmax.backbones.backbone.ModelState` (each parameter's ``requires_grad``, each
submodule's ``training``), the ``.grad`` tensor of each parameter and every global random stream
(:class:`~lit_actmax.core.random_state.RandomState`), and restores them on exit, after an exception too. Inside the
block gradients are on (also where the caller runs under ``torch.no_grad`` or ``torch.inference_mode``, as Lightning's
validation hooks do) and autocast is off (a render does not depend on the precision context it was called from);
both come back with the block's end. Eval mode keeps BatchNorm statistics as they are. Plain torch.
"""

from __future__ import annotations

import contextlib
from types import TracebackType

import torch
from torch import nn

from ..backbones.backbone import ModelState
from .random_state import RandomState

__all__ = ["ModelGuard"]


class ModelGuard:
    """``with ModelGuard(model):`` the block may freeze, hook and run ``model``; afterwards its ``requires_grad``,
    train/eval modes, parameter gradients and the process's random streams are as they were (see the module
    docstring). Hooks are the block's to remove (:meth:`~lit_actmax.core.renderer.Renderer.detach`)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> ModelGuard:
        self.state = ModelState.capture(self.model)
        self.grads = [p.grad for p in self.model.parameters()]
        self.random = RandomState.capture()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.enable_grad())
        stack.enter_context(torch.autocast("cpu", enabled=False))
        if torch.cuda.is_available():
            stack.enter_context(torch.autocast("cuda", enabled=False))
        self._stack = stack
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if self._stack is not None:
                self._stack.close()
        finally:
            self._stack = None
            self.state.restore(self.model)
            for parameter, grad in zip(self.model.parameters(), self.grads):
                if parameter.grad is not grad:
                    parameter.grad = grad
            self.random.restore()
