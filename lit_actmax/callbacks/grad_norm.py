"""Per-unit gradient normalization or clipping: each image's gradient is rescaled on its own.

Lightning's ``gradient_clip_val`` computes one norm over all parameters, so the gradient of one unit's image
would shrink because another unit's gradient is large: units would be coupled. Here image ``i``'s norm is taken
over row ``i`` (dim 0) of every image parameter, and only that row is rescaled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import override

from ..errors import ConfigError
from ..lightning.package import pl
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["PerUnitGradNorm", "per_image_grad_norm", "rescale_per_image"]


def per_image_grad_norm(params: list[torch.Tensor], norm_type: float = 2.0) -> torch.Tensor:
    """(N,) norm of each image's gradient over all ``params`` (each (N, ...); params without grad are skipped)."""
    grads = [p.grad.detach().reshape(p.grad.shape[0], -1).float() for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(0)
    flat = torch.cat(grads, dim=1)
    if norm_type == float("inf"):
        return flat.abs().amax(1)
    return flat.norm(p=norm_type, dim=1)


@torch.no_grad()
def rescale_per_image(params: list[torch.Tensor], factors: torch.Tensor) -> None:
    """Multiply row ``i`` of every parameter's gradient by ``factors[i]`` (in place)."""
    for p in params:
        if p.grad is not None:
            p.grad.mul_(factors.to(p.grad.device, p.grad.dtype).view(-1, *([1] * (p.grad.dim() - 1))))


class PerUnitGradNorm(ActMaxCallback):
    """Normalize (``mode="normalize"``: every image's gradient gets norm ``max_norm``) or clip (``mode="clip"``:
    norms above ``max_norm`` are scaled down to it) each image's gradient separately, before every optimizer step.

    ``norm_type``: 2 (default), 1, or ``inf``. ``last_norms`` holds the (N,) norms before rescaling.
    """

    changes_images = True

    def __init__(self, mode: str = "clip", max_norm: float = 1.0, norm_type: float = 2.0, eps: float = 1e-12) -> None:
        super().__init__()
        if mode not in ("clip", "normalize"):
            raise ConfigError(f"mode must be 'clip' or 'normalize', not {mode!r}.")
        if max_norm <= 0:
            raise ConfigError(f"max_norm must be positive, got {max_norm}.")
        self.mode, self.max_norm, self.norm_type, self.eps = mode, float(max_norm), float(norm_type), float(eps)
        self.last_norms: torch.Tensor | None = None

    @override
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: ActMaxModule, optimizer: Any) -> None:
        params = [p for p in pl_module.renderer.param.parameters() if p.grad is not None]
        if not params:
            return
        norms = per_image_grad_norm(params, self.norm_type)
        self.last_norms = norms.cpu()
        factors = self.max_norm / (norms + self.eps)
        if self.mode == "clip":
            factors = factors.clamp(max=1.0)
        rescale_per_image(params, factors)
