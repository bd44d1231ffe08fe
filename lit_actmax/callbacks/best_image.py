"""Keep, per unit, the image with the highest target activation seen during its optimization (act_max_util's
``best_img``), and save that one.

Every image the optimizer is about to step from is a candidate (``on_before_optimizer_step``: the image after
``s`` steps and the between-epoch callbacks so far), and so is the finished image. The activation is measured

- ``measure="step"``: as the training step measured it (free; on the *augmented* views when the module has
  per-step transforms);
- ``measure="clean"``: on the un-augmented image, with one extra forward pass per step;
- ``measure="auto"`` (default): ``"step"`` when the module has no per-step transforms (then both are equal),
  else ``"clean"``.

act_max_util compares the activation of the image *before* a step with the best and then stores the image
*after* it; here the stored image is the one that was measured. When the group finishes, with ``replace=True``
the best image becomes the unit's PNG and its ``activation`` (the last image is saved as ``<stem>_final.png``
if ``save_final``); with ``replace=False`` the best is saved as ``<stem>_best.png``. A best image of another
size (see :class:`~.resize.Resize`) is resized to the final size for the PNG. Records get ``best_step`` (steps
the image had had: 0 = initial, ``steps`` = the final image), ``best_activation``, ``final_activation``.
``best`` keeps {(unit, variant, target): {"image": (3, h, w) CPU tensor, "activation": float, "step": int}}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from typing_extensions import override

from ..errors import ConfigError
from ..image.io import save_png
from ..image.ops import resize_images
from ..lightning.package import pl
from ..run.records import FinishedUnits
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..core.schedule import UnitImage
    from ..lightning.module import ActMaxModule

__all__ = ["BestImage"]


class BestImage(ActMaxCallback):
    """Track the best image per unit; see the module docstring."""

    def __init__(self, replace: bool = True, measure: str = "auto", save_final: bool = True) -> None:
        super().__init__()
        if measure not in ("auto", "step", "clean"):
            raise ConfigError(f"measure must be 'auto', 'step' or 'clean', not {measure!r}.")
        self.replace, self.measure, self.save_final = bool(replace), measure, bool(save_final)
        self.images: list[torch.Tensor | None] = []  # current group: best image per row (3, h, w), on the device
        self.activations: torch.Tensor | None = None  # (N,) best activation per row
        self.steps: list[int] = []
        self.best: dict[tuple[int, int, int], dict[str, Any]] = {}

    # -- tracking ---------------------------------------------------------------------------------------
    @override
    def on_units_started(self, trainer: pl.Trainer, pl_module: ActMaxModule, items: Sequence[UnitImage]) -> None:
        self.images, self.activations, self.steps = [None] * len(items), None, [-1] * len(items)

    def _clean(self, pl_module: ActMaxModule) -> bool:
        if self.measure != "auto":
            return self.measure == "clean"
        transforms = pl_module.renderer.transforms
        return not (hasattr(transforms, "__len__") and len(transforms) == 0)

    @override
    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: ActMaxModule, optimizer: Any) -> None:
        images = pl_module.renderer.param().detach().float()
        if self._clean(pl_module) or pl_module.step_activations is None:
            activations = pl_module.renderer.activation(images)
        else:
            activations = pl_module.step_activations.float()
        self.offer(images, activations, pl_module.step_in_group)

    def offer(self, images: torch.Tensor, activations: torch.Tensor, step: int) -> None:
        """Keep row ``i`` of (N, 3, H, W) ``images`` where ``activations[i]`` beats the best so far."""
        n = images.shape[0]
        if len(self.images) != n:
            self.images, self.activations, self.steps = [None] * n, None, [-1] * n
        activations = activations.detach().float().to(images.device)
        if self.activations is None:
            self.activations = torch.full((n,), float("-inf"), device=images.device)
        self.activations = self.activations.to(images.device)
        better = (activations > self.activations).nonzero().flatten().tolist()
        for i in better:
            self.images[i] = images[i].detach().clone()
            self.steps[i] = int(step)
        self.activations = torch.maximum(self.activations, activations)

    # -- finishing --------------------------------------------------------------------------------------
    @override
    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        final_images, final_activations = finished.images, finished.activations.clone()
        self.offer(final_images, final_activations, pl_module.schedule.steps_per_unit)
        size = tuple(final_images.shape[-2:])
        writer = pl_module.writer
        replaced = final_images.clone()
        for i in range(len(finished.units)):
            best = self.images[i].float()
            activation = float(self.activations[i])
            self.best[finished.key(i)] = {"image": best.cpu().clamp(0, 1), "activation": activation, "step": self.steps[i]}
            if not finished.valid[i]:
                continue
            finished.extras[i].update(best_step=self.steps[i], best_activation=activation,
                                      final_activation=float(final_activations[i]))
            if tuple(best.shape[-2:]) != size:
                finished.extras[i]["best_size"] = list(best.shape[-2:])
                best = resize_images(best.unsqueeze(0), size)[0]
            if self.replace:
                replaced[i] = best.to(replaced.device, replaced.dtype).clamp(0, 1)
                finished.activations[i] = activation
            if writer is None or (self.replace and not self.save_final):
                continue
            suffix, image = ("_final.png", final_images[i]) if self.replace else ("_best.png", best)
            path = writer.path_of(finished, i, suffix)
            save_png(path, image.clamp(0, 1))
            finished.files[i]["final" if self.replace else "best"] = writer.relative(path)
        finished.images = replaced
        self.images, self.activations, self.steps = [], None, []

    # -- resume -----------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "images": [None if im is None else im.cpu() for im in self.images],
            "activations": None if self.activations is None else self.activations.cpu(),
            "steps": list(self.steps),
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.images = list(state_dict.get("images", []))
        self.activations = state_dict.get("activations")
        self.steps = list(state_dict.get("steps", []))
