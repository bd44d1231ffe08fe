"""``LiveRenderer``: render units of a model that is being trained, now, and leave the model exactly as it was.

The :class:`~lit_actmax.core.renderer.Renderer` renders a frozen backbone. A model in the middle of its training is
not frozen: it has parameters that require gradients (and hold them), submodules in train mode, BatchNorm statistics
that a forward in train mode would update, and a training run that draws random numbers. :meth:`LiveRenderer.render`
renders inside a :class:`~lit_actmax.core.model_guard.ModelGuard`: the model is frozen and hooked only for the render
and comes back as it was (``requires_grad``, train/eval, ``.grad``, every random stream), failures included; its
parameters never receive a gradient (they do not require one during the render) and BatchNorm runs on its running
statistics (eval mode). Each render uses the same settings and seeds (every draw is seeded per unit,
:mod:`lit_actmax.core.seeding`), so the pictures of one unit over training differ only by the model's weights.

Which part of a training module is the vision model is a setting (:func:`resolve_model`): a dotted attribute name
(``"net"``, ``"model.backbone"``), a callable that takes the module and returns it, or None for the module itself.
Plain torch: the Lightning callback (:class:`~lit_actmax.callbacks.FeatureVisualization`) and ``lit-actmax evolve``
(checkpoints after the fact) both render through it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from ..augment import Transform
from ..backbones.backbone import Backbone
from ..backbones.preprocessing import Normalize
from ..errors import ConfigError
from ..objectives.base import Objective
from ..params import ImageParam
from .model_guard import ModelGuard
from .numerics import PINNED, Numerics
from .optim import OptimizerFactory, default_optimizer
from .renderer import Renderer
from .schedule import UnitSchedule
from .unit_request import UnitRequest, UnitSelection

__all__ = ["LiveRenderer", "ModelChoice", "Rendering", "ToModelDtype", "resolve_model"]

#: Which module of a training module is the vision model: a dotted attribute name, a callable, or None (the module).
ModelChoice = str | Callable[[nn.Module], nn.Module] | None


def resolve_model(root: nn.Module, choice: ModelChoice = None) -> nn.Module:
    """The vision model inside ``root``: ``root`` itself (None or ``""``), the module at a dotted attribute name, or
    what ``choice(root)`` returns. :class:`ConfigError` naming ``root``'s children when there is no such module."""
    if choice is None or choice == "":
        model: object = root
    elif isinstance(choice, str):
        model = root
        for part in choice.split("."):
            if not hasattr(model, part):
                children = ", ".join(name for name, _ in root.named_children()) or "none"
                raise ConfigError(f"{type(root).__name__} has no attribute {choice!r} to render; name the vision "
                                  f"model by its attribute (its children: {children}) or pass model=None for the module "
                                  "itself.")
            model = getattr(model, part)
    else:
        model = choice(root)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"The model to render ({choice!r} of {type(root).__name__}) is a {type(model).__name__}, "
                          "not an nn.Module; name a submodule that takes images (B, 3, H, W).")
    return model


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of ``model``'s first floating-point parameter or buffer (None: it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


class ToModelDtype(nn.Module):
    """A model's preprocessing, then a cast to the model's dtype (``dtype``, set before each render): images stay
    float32 in [0, 1] while a model trained in true half or double precision (``"bf16-true"``, ``"64-true"``)
    receives its own dtype. (B, 3, H, W) in [0, 1] -> the model's input."""

    def __init__(self, preprocess: nn.Module) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.dtype: torch.dtype | None = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(images)
        return x if self.dtype is None or x.dtype == self.dtype else x.to(self.dtype)


@dataclass
class Rendering:
    """One render of a process's units: ``keys`` (N, 3) long rows ``(unit, variant, target)``, ``images``
    (N, 3, H, W) float32 in [0, 1] on the CPU, ``activations`` (N,) float32 (each image's target activation without
    transforms), ``seconds`` the render's wall time."""

    keys: torch.Tensor
    images: torch.Tensor
    activations: torch.Tensor
    seconds: float

    @classmethod
    def empty(cls, size: Sequence[int], seconds: float = 0.0) -> Rendering:
        """No images (a process without units, or one whose render failed)."""
        h, w = size
        return cls(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, 3, h, w), torch.zeros(0), float(seconds))


class LiveRenderer:
    """Render ``units`` of a model that is being trained, leaving it as it was (see the module docstring).

    Args:
        units: as :class:`~lit_actmax.lightning.module.ActMaxModule` takes them: ids of ``objective`` (``"0-7"``,
            ``[3, 5]``) or a selection per layer (``{"features.6": "0-7", "output": "all"}``, each layer with the
            objective of ``objective_kind``).
        objective: what each image maximizes (default ``ClassLogit()``: the model's output); None with units per layer.
        objective_kind: the objective of each layer with units per layer (auto, channel, neuron, class).
        model: which module of the training module is the vision model (:func:`resolve_model`).
        preprocess: images (B, 3, H, W) in [0, 1] -> the model's input (default ImageNet mean/std).
        class_names: labels of the output units, for captions and records.
        size: image side in pixels; steps: optimizer steps per image and render; batch_size: images per group;
        variants: images per unit; seed: the base seed of every draw.
        param, transforms, regularizers, optimizer: as the :class:`Renderer` takes them (defaults: the library's
            default method, Adam 0.02).
        numerics: the numerics a render runs with, restored after it (:class:`~lit_actmax.core.numerics.Numerics`;
            None: the process's own, as the training set them).
    """

    def __init__(
        self, units: UnitSelection, objective: Objective | None = None, objective_kind: str = "auto",
        model: ModelChoice = None, preprocess: nn.Module | None = None, class_names: Sequence[str] | None = None,
        size: int = 64, steps: int = 64, batch_size: int = 8, variants: int = 1, seed: int = 0,
        param: ImageParam | None = None, transforms: Transform | None = None, regularizers: Sequence[Objective] = (),
        optimizer: OptimizerFactory | None = None, numerics: Numerics | None = PINNED,
    ) -> None:
        self.request = UnitRequest.check(units, objective, objective_kind, batch_size, variants, 1, steps)
        if numerics is not None:
            numerics.check()
        self.model_choice, self.class_names = model, list(class_names) if class_names is not None else None
        self.preprocess = ToModelDtype(preprocess if preprocess is not None else Normalize())
        self.size, self.steps, self.seed = int(size), int(steps), int(seed)
        self.param, self.transforms, self.regularizers = param, transforms, list(regularizers)
        self.optimizer, self.numerics = optimizer or default_optimizer, numerics
        self.renderer: Renderer | None = None
        self.schedule: UnitSchedule = self.request.schedule
        self.name = ""

    def bind(self, root: nn.Module, name: str) -> None:
        """Find the vision model in ``root`` (a training module), build the renderer on it and dry-run it once (size,
        layers, unit range): a mistake is one :class:`ConfigError` sentence here, before any training. ``name``
        names the model in messages and records (e.g. ``"Classifier.net"``). The model comes back as it was."""
        model = resolve_model(root, self.model_choice)
        with ModelGuard(model):
            backbone = Backbone(model=model, preprocess=self.preprocess, spec=name, input_size=self.size,
                                min_size=1, class_names=self.class_names)
            self.preprocess.dtype = model_dtype(model)
            self.renderer, self.schedule = self.request.plan(
                backbone, regularizers=self.regularizers, param=self.param, transforms=self.transforms,
                size=self.size, seed=self.seed)
        self.name = name

    @property
    def model(self) -> nn.Module | None:
        """The model the renderer is bound to (None before :meth:`bind`)."""
        return self.renderer.backbone if self.renderer is not None else None

    def render(self, rank: int = 0, world_size: int = 1) -> Rendering:
        """Render this process's share of the units (``units[rank::world_size]``) of the bound model as it is now,
        on its device, and give the model back as it was (also when the render fails)."""
        renderer = self.renderer
        if renderer is None:
            raise RuntimeError("LiveRenderer.render needs LiveRenderer.bind first.")
        schedule = self.schedule.for_rank(rank, world_size)
        model = renderer.backbone
        start = time.perf_counter()
        keys, images, activations = [], [], []
        with ModelGuard(model), self.numerics.pinned() if self.numerics is not None else contextlib.nullcontext():
            device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
            for part in (renderer.param, renderer.objective, renderer.regularizers, renderer.transforms, self.preprocess):
                part.to(device)
            self.preprocess.dtype = model_dtype(model)
            renderer.attach()
            try:
                for items in schedule.groups:
                    saved = [i for i, item in enumerate(items) if item.saved]
                    if not saved:  # a process short of units: nothing of this group is kept
                        continue
                    renderer.start(items)
                    final, acts = renderer.optimize(schedule.steps_per_unit, self.optimizer)
                    keys += [(items[i].unit, items[i].variant, items[i].target) for i in saved]
                    images.append(final[saved].float().cpu())
                    activations.append(acts[saved].float().cpu())
            finally:
                renderer.detach()
        seconds = time.perf_counter() - start
        if not keys:
            return Rendering.empty(renderer.size, seconds)
        return Rendering(torch.tensor(keys, dtype=torch.long).view(-1, 3), torch.cat(images), torch.cat(activations),
                         seconds)
