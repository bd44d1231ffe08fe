"""The "every k epochs" schedule shared by the between-epoch image callbacks, and their common base.

An *epoch* is ``steps_per_epoch`` optimizer steps of :class:`~lit_actmax.lightning.module.ActMaxModule` (see its
docstring): with ``steps_per_epoch=1`` a schedule counts optimizer steps ("blur every 4 steps"), with
``steps_per_epoch=20`` it counts midnite's iterations ("transform after every 20 Adam steps").

A callback acts at the end of epoch ``e`` of the current group of units (``e = pl_module.epoch_in_group``,
0-based) when ``e >= start``, ``(e - start) % every == 0``, ``e < stop`` (if given), and, after the group's
last epoch, only with ``on_last_epoch=True`` (act_max_util regularizes after every step, the last included;
midnite transforms only *between* iterations). The schedule is a function of the epoch, which Lightning
checkpoints; ``state_dict`` adds the count of applications and the last epoch acted on, so an epoch-end hook
replayed on resume (see :mod:`lit_actmax.lightning.epoch_replay`) never acts twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import override

from ..errors import ConfigError
from ..image.ops import model_space
from ..lightning.package import pl
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["EpochSchedule", "ImageCallback", "ResetOptimizerState", "Clamp", "space_of", "check_space"]


class EpochSchedule:
    """When to act: every ``every`` epochs of a group, from ``start``, before ``stop``, and maybe after the last."""

    def __init__(self, every: int = 1, start: int = 0, stop: int | None = None, on_last_epoch: bool = True) -> None:
        if int(every) < 1:
            raise ConfigError(f"every must be at least 1, got {every}.")
        if int(start) < 0:
            raise ConfigError(f"start must be at least 0, got {start}.")
        if stop is not None and int(stop) <= int(start):
            raise ConfigError(f"stop ({stop}) must be greater than start ({start}), or None.")
        self.every, self.start = int(every), int(start)
        self.stop = None if stop is None else int(stop)
        self.on_last_epoch = bool(on_last_epoch)

    def due(self, epoch: int, last: bool) -> bool:
        """Whether to act at the end of (0-based) epoch ``epoch`` of a group; ``last``: it is the group's last."""
        if last and not self.on_last_epoch:
            return False
        if epoch < self.start or (self.stop is not None and epoch >= self.stop):
            return False
        return (epoch - self.start) % self.every == 0

    def describe(self) -> str:
        stop = "" if self.stop is None else f", stop={self.stop}"
        return f"every={self.every}, start={self.start}{stop}, on_last_epoch={self.on_last_epoch}"


class ImageCallback(ActMaxCallback):
    """Base of the callbacks that change every current image at scheduled epoch ends, in place, on the device.

    Subclasses implement ``apply(images, pl_module) -> images`` on (N, 3, H, W) float images (in [0, 1] unless
    the parameterization is unbounded); the base reads the images from ``pl_module.renderer.param()``, writes the
    result back with ``param.set_image`` (whatever the parameterization), counts applications and keeps them
    resumable. ``applied`` counts applications over the whole run.
    """

    changes_images = True

    def __init__(self, every: int = 1, start: int = 0, stop: int | None = None, on_last_epoch: bool = True) -> None:
        super().__init__()
        self.schedule = EpochSchedule(every, start, stop, on_last_epoch)
        self.applied = 0
        self.last_epoch = -1  # global epoch of the last application (guards a replayed epoch-end hook)

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        raise NotImplementedError

    def due(self, pl_module: ActMaxModule) -> bool:
        return self.schedule.due(pl_module.epoch_in_group, pl_module.is_last_epoch_of_group)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: ActMaxModule) -> None:
        epoch = trainer.current_epoch
        if epoch == self.last_epoch or not self.due(pl_module):
            return
        with torch.no_grad():
            param = pl_module.renderer.param
            images = param().detach().float()
            result = self.apply(images, pl_module)
            if result is not None:
                param.set_image(result)
        self.after_apply(pl_module)
        self.applied += 1
        self.last_epoch = epoch

    def after_apply(self, pl_module: ActMaxModule) -> None:
        """Hook after the images were written back (e.g. drop optimizer state)."""

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "last_epoch": self.last_epoch}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.applied = int(state_dict.get("applied", 0))
        self.last_epoch = int(state_dict.get("last_epoch", -1))

    @property
    @override
    def state_key(self) -> str:
        """Unique per configuration, so two instances of one class (e.g. two blurs) keep separate states."""
        settings = {k: v for k, v in vars(self).items()
                    if k not in ("applied", "last_epoch") and not k.startswith("_") and isinstance(v, (int, float, str, bool))}
        settings.update(vars(self.schedule))
        return self._generate_state_key(**settings)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.schedule.describe()})"


def space_of(space: str, pl_module: ActMaxModule) -> tuple[torch.Tensor, torch.Tensor]:
    """``(center, scale)`` (3,) on the module's device: ``"model"`` = the backbone's input space (0 there is the
    dataset mean colour: act_max_util's space), ``"image"`` = RGB in [0, 1] centred at mid-grey."""
    if space == "model":
        center, scale = model_space(pl_module.renderer.preprocess)
    elif space == "image":
        center, scale = torch.full((3,), 0.5), torch.ones(3)
    else:
        raise ConfigError(f"space must be 'model' or 'image', not {space!r}.")
    return center.to(pl_module.device), scale.to(pl_module.device)


def check_space(space: str) -> str:
    if space not in ("model", "image"):
        raise ConfigError(f"space must be 'model' (the backbone's input space) or 'image', not {space!r}.")
    return space


class ResetOptimizerState(ImageCallback):
    """Forget the optimizer's state (Adam moments and step count) of the images on schedule, as if a new
    optimizer started: midnite builds a fresh ``Adam`` for every iteration (``every=1`` with
    ``steps_per_epoch=opt_n``). The images are not changed."""

    def __init__(self, every: int = 1, start: int = 0, stop: int | None = None, on_last_epoch: bool = False) -> None:
        super().__init__(every, start, stop, on_last_epoch)

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> None:
        return None

    def after_apply(self, pl_module: ActMaxModule) -> None:
        pl_module.reset_optimizer_state()


class Clamp(ImageCallback):
    """Clip the images to ``[low, high]`` on schedule (midnite clamps to [0, 1] after each iteration); for
    unbounded parameterizations such as ``Pixel(activation="none")``."""

    def __init__(self, low: float = 0.0, high: float = 1.0, every: int = 1, start: int = 0, stop: int | None = None,
                 on_last_epoch: bool = True) -> None:
        super().__init__(every, start, stop, on_last_epoch)
        if low >= high:
            raise ConfigError(f"low ({low}) must be below high ({high}).")
        self.low, self.high = float(low), float(high)

    def apply(self, images: torch.Tensor, pl_module: ActMaxModule) -> torch.Tensor:
        return images.clamp(self.low, self.high)
