"""Redirected ReLU (Lucid, captum.optim): let gradient reach inputs of ReLU/ReLU6 units that are inactive.

A unit whose pre-activation is negative everywhere passes no gradient through its ReLU, so optimization of an
image that starts there never moves. The redirected gradient, computed per example (dim 0 of the activation),
is used only for examples where the ordinary ReLU gradient is zero everywhere; it passes the incoming gradient
except where it would push an input further out of the active range (below 0, or above 6 for ReLU6). The
forward values never change. Lucid uses it for the first steps only; so does the Lightning callback
:class:`lit_actmax.callbacks.RedirectReLU`.

    with redirect_relus(model):          # plain PyTorch
        loss.backward()
    Trainer(callbacks=[RedirectReLU(steps=16)])   # Lightning: the first 16 steps of every group
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

__all__ = ["redirected_relu", "redirect_relus", "ReluRedirection", "relu_modules"]


class _RedirectedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, upper: float | None) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.upper = upper
        return x.clamp(0, upper) if upper is not None else x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        upper = ctx.upper
        below = x < 0
        above = x > upper if upper is not None else torch.zeros_like(below)
        relu_grad = grad.masked_fill(below | above, 0)
        # grad is d loss / d output: descent moves the input by -grad; block only moves further out of range
        away = (below & (grad > 0)) | (above & (grad < 0))
        redirected = grad.masked_fill(away, 0)
        if grad.dim() == 0:
            return (redirected if float(relu_grad) == 0 else relu_grad), None
        dead = relu_grad.reshape(grad.shape[0], -1).abs().amax(1) == 0  # per example: nothing got through
        return torch.where(dead.view(-1, *([1] * (grad.dim() - 1))), redirected, relu_grad), None


def redirected_relu(x: torch.Tensor, upper: float | None = None) -> torch.Tensor:
    """``relu(x)`` (or ``clamp(x, 0, upper)``) whose gradient is redirected for examples where ReLU passes none."""
    return _RedirectedReLU.apply(x, upper)


def relu_modules(model: nn.Module) -> list[tuple[str, nn.Module, float | None]]:
    """The ``nn.ReLU`` and ReLU6-like (``nn.Hardtanh(0, t)``) modules of ``model``: (name, module, upper)."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.ReLU):
            found.append((name, module, None))
        elif isinstance(module, nn.Hardtanh) and module.min_val == 0:  # nn.ReLU6 is Hardtanh(0, 6)
            found.append((name, module, float(module.max_val)))
    return found


class ReluRedirection:
    """Patches the ReLU/ReLU6 modules of models (:func:`relu_modules`) so that, while :attr:`enabled`, they
    redirect their gradient; :meth:`remove` restores them. One switch serves every model patched through it.

    Only modules are patched: activations called as functions (``F.relu``) are not redirected.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)
        self.modules: list[nn.Module] = []

    def patch(self, model: nn.Module) -> int:
        """Patch the ReLU/ReLU6 modules of ``model`` not yet patched; returns how many are patched in all."""
        for _, module, upper in relu_modules(model):
            if "forward" in module.__dict__:
                continue  # already patched (shared module listed twice, or nested use)
            original = type(module).forward.__get__(module)
            module.forward = functools.partial(self._forward, upper, original)
            self.modules.append(module)
        return len(self.modules)

    def remove(self) -> None:
        """Give every patched module its own forward back."""
        for module in self.modules:
            module.__dict__.pop("forward", None)
        self.modules = []

    def _forward(self, upper: float | None, original: Any, x: torch.Tensor) -> torch.Tensor:
        if self.enabled and torch.is_grad_enabled() and x.requires_grad:
            return redirected_relu(x, upper)
        return original(x)


@contextmanager
def redirect_relus(model: nn.Module) -> Iterator[int]:
    """Within the block, every ReLU/ReLU6 module of ``model`` redirects its gradient; yields how many there are.

    Only modules are patched: activations called as functions (``F.relu``) are not redirected.
    """
    redirection = ReluRedirection()
    try:
        yield redirection.patch(model)
    finally:
        redirection.remove()
