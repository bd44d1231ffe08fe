"""``Renderer``: the plain-torch core of lit_actmax; one optimization step of a group of units, in any loop.

It holds the frozen backbone with its preprocessing, the probe on the target layer(s), the image
parameterization, the per-step transforms, the objective and the regularizers. A group of images is started with
:meth:`Renderer.start`; :meth:`Renderer.loss` is one step's loss; :meth:`Renderer.final_images` returns the
result. The Lightning module (:class:`~lit_actmax.module.ActMaxModule`) only calls these from its hooks, so a plain
loop makes the same images as the Trainer for the same settings and seed: per group of the
:class:`~lit_actmax.unit_schedule.UnitSchedule`, ``start(group)``, a fresh optimizer over ``param.parameters()``,
``loss(step).loss.backward()`` and an optimizer step for each step, then ``final_images()`` (the README's "plain
PyTorch loop"; ``tests/test_renderer.py`` checks the equality).

Every random draw depends only on (seed, unit, variant, stream, step) (:mod:`lit_actmax.seeding`), so an image does
not depend on which other units share its group.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .accentuate import load_image
from .augment import Transform, lucid_transforms, set_progress
from .errors import ConfigError
from .models import Backbone
from .objectives import ClassLogit, Objective, RenderBatch
from .params import Fourier, ImageParam, as_size
from .probe import LayerProbe
from .seeding import STREAM_AUGMENT, STREAM_INIT, unit_generators
from .speed import compile_probe
from .unit_schedule import UnitImage

__all__ = ["Renderer", "StepOutput"]

ProbeCall = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class StepOutput:
    """One step of a group: ``loss`` () to minimize (the negated objective of the saved images, summed), and
    ``activations`` (N,), each image's target activation on this step's views (detached)."""

    loss: torch.Tensor
    activations: torch.Tensor


def mean_per_image(values: torch.Tensor, n_images: int) -> torch.Tensor:
    """(n_images * views,) scores of consecutive views -> (n_images,) means."""
    return values.view(n_images, -1).mean(1)


class Renderer(nn.Module):
    """Optimize images of units of a frozen backbone; see the module docstring.

    Args:
        backbone: the loaded backbone (:func:`~lit_actmax.models.load_backbone`); frozen and in eval mode.
        objective: what to maximize per image (default ``ClassLogit()``).
        regularizers: terms subtracted from the objective.
        param: image parameterization (default ``Fourier()``).
        transforms: per-step augmentation (default Lucid's set); ``Compose([])`` for none.
        size: side of the images (or ``(h, w)``).
        steps: optimizer steps per image; scheduled transforms follow ``step / (steps - 1)``.
        seed: base seed of every random draw.
        input_size: resize the augmented images to this side before the backbone (None: as they are).
        channels_last: feed the backbone channels-last tensors (faster convolutions on GPUs).
        init_image: start every image from this image file instead of noise.
    """

    def __init__(
        self,
        backbone: Backbone,
        objective: Objective | None = None,
        regularizers: Sequence[Objective] = (),
        param: ImageParam | None = None,
        transforms: Transform | None = None,
        size: int | Sequence[int] = 128,
        steps: int = 256,
        seed: int = 0,
        input_size: int | Sequence[int] | None = None,
        channels_last: bool = False,
        init_image: str | None = None,
    ) -> None:
        super().__init__()
        if init_image is not None and not Path(init_image).is_file():
            raise ConfigError(f"init_image {init_image!r} is not a file; give the path of a PNG or JPEG image.")
        self.backbone_info = backbone
        self.backbone = backbone.model
        self.preprocess = backbone.preprocess
        self.objective = objective if objective is not None else ClassLogit()
        self.regularizers = nn.ModuleList(regularizers)
        self.param = param if param is not None else Fourier()
        self.transforms = transforms if transforms is not None else lucid_transforms()
        self.size = as_size(size)
        self.steps, self.seed = int(steps), int(seed)
        self.input_size = None if input_size is None else as_size(input_size)
        self.channels_last, self.init_image = bool(channels_last), init_image
        self.layers = list(dict.fromkeys([*self.objective.layers, *(name for r in self.regularizers for name in r.layers)]))
        if not self.layers:
            raise ConfigError("The objective reads no layer; use e.g. ClassLogit('output') or Channel('<layer>').")
        self.probe = LayerProbe(self.backbone, self.layers)
        self.items: tuple[UnitImage, ...] = ()
        self.layer_shapes: dict[str, tuple[int, ...]] = {}
        self._probe_call: ProbeCall | None = None

    # -- set-up -----------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for tensor in (*self.param.parameters(), *self.backbone.parameters(), *self.backbone.buffers()):
            return tensor.device
        return torch.device("cpu")

    def validate(self, units: Sequence[int]) -> dict[str, tuple[int, ...]]:
        """Dry-run one image through transforms, preprocessing and the probe; check size, layers and ``units``.

        Returns ``{layer: activation shape per image}``. Raises :class:`ConfigError` with what to change.
        """
        h, w = self.size
        info = self.backbone_info
        if min(h, w) < info.min_size:
            raise ConfigError(f"Image size {h}x{w} is too small for backbone {info.spec!r}: use size >= {info.min_size}.")
        dummy = torch.full((1, 3, h, w), 0.5, device=self.device)
        with torch.no_grad():
            x = self.to_model_input(self.transforms(dummy, unit_generators(self.seed, [0], [0], STREAM_AUGMENT)))
            try:
                self.probe.check(x)
                acts = self.probe(x)
            except RuntimeError as error:
                raise ConfigError(
                    f"Backbone {info.spec!r} cannot run on {h}x{w} images up to layer(s) {self.layers} "
                    f"({str(error).splitlines()[0][:120]}); increase `size` (e.g. to {info.input_size})."
                ) from None
        shapes = {name: tuple(a.shape[1:]) for name, a in acts.items()}
        for name, shape in shapes.items():
            if len(shape) == 3 and min(shape[1:]) < 1:
                raise ConfigError(f"Layer {name!r} has an empty {shape} map at size {h}x{w}; increase `size`.")
        bound = self.objective.num_units(shapes)
        bad = [u for u in units if bound is not None and u >= bound]
        if bad:
            raise ConfigError(f"Unit {bad[0]} is out of range for {self.objective.describe()}: valid units are 0-{bound - 1}.")
        self.layer_shapes = shapes
        return shapes

    def attach(self, compile_options: dict[str, Any] | None = None) -> None:
        """Hook the probe, bind terms that need the renderer (e.g. ``ImageDistance``), apply the speed options.

        ``compile_options``: ``torch.compile`` the truncated forward with these keyword arguments (None: eager).
        """
        self.probe.attach()
        for _, term in [*self.objective.terms(), *(t for r in self.regularizers for t in r.terms())]:
            bind = getattr(term, "bind", None)
            if bind is not None:
                bind(self)
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if compile_options is not None and self._probe_call is None:
            self._probe_call = compile_probe(self.probe, **compile_options)

    @property
    def compiled(self) -> bool:
        """Whether the backbone's truncated forward runs through ``torch.compile`` (see :meth:`attach`)."""
        return self._probe_call is not None

    def detach(self) -> None:
        """Remove the probe's hooks: the backbone runs as the user's model again."""
        self.probe.remove()

    def to_model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Augmented images (B, 3, h, w) in [0, 1] -> backbone input (resized to ``input_size``, normalized)."""
        if self.input_size is not None and tuple(images.shape[-2:]) != self.input_size:
            images = F.interpolate(images, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        x = self.preprocess(images)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # -- a group ----------------------------------------------------------------------------------------
    def start(self, items: Sequence[UnitImage], size: Sequence[int] | None = None) -> None:
        """Make the group's images: one per item, from its unit's seed (or from ``init_image``), at ``size``."""
        self.items = tuple(UnitImage(*item) for item in items)
        size = as_size(size) if size is not None else self.size
        self.param.reset(unit_generators(self.seed, self.unit_ids, self.variant_ids, STREAM_INIT), size)
        if self.init_image is not None:
            seed = load_image(self.init_image, size).to(self.device)
            self.param.set_image(seed.expand(len(self.items), -1, -1, -1))

    @property
    def unit_ids(self) -> list[int]:
        return [item.unit for item in self.items]

    @property
    def variant_ids(self) -> list[int]:
        return [item.variant for item in self.items]

    @property
    def saved_mask(self) -> torch.Tensor:
        """(N,) bool: which images of the group are saved (False for a rank's padding images)."""
        return torch.tensor([item.saved for item in self.items], device=self.device)

    def render(self, images: torch.Tensor, step: int | None) -> RenderBatch:
        """Transform (seeded per unit and ``step``; ``None``: no transforms), preprocess and probe (N, 3, H, W)
        images in [0, 1] of the current group. With several views per image the batch has N * views rows."""
        units = torch.tensor(self.unit_ids, device=images.device, dtype=torch.long)
        variants = torch.tensor(self.variant_ids, device=images.device, dtype=torch.long)
        x = images
        if step is not None:
            generators = unit_generators(self.seed, self.unit_ids, self.variant_ids, STREAM_AUGMENT, step)
            set_progress(self.transforms, step / max(1, self.steps - 1))
            x = self.transforms(x, generators)
        acts = (self._probe_call or self.probe)(self.to_model_input(x))
        views = x.shape[0] // max(1, images.shape[0])
        if views > 1:  # several views per image (MultiCrop): rows b*views ... belong to image b
            units, variants = units.repeat_interleave(views), variants.repeat_interleave(views)
            images = images.repeat_interleave(views, dim=0)
        return RenderBatch(acts=acts, units=units, image=images, variants=variants)

    def score(self, batch: RenderBatch) -> torch.Tensor:
        """(B,) objective minus regularizers."""
        score = self.objective(batch)
        for regularizer in self.regularizers:
            score = score - regularizer(batch)
        return score

    def loss(self, step: int) -> StepOutput:
        """The loss of optimizer step ``step`` (0-based, counted in the group) of the current images."""
        images = self.param()
        batch = self.render(images, step)
        n_images = images.shape[0]
        score = mean_per_image(self.score(batch), n_images)
        loss = -(score * self.saved_mask).sum()
        with torch.no_grad():
            activations = mean_per_image(self.objective.activation(batch), n_images).detach()
        return StepOutput(loss, activations)

    @torch.no_grad()
    def activation(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) target activation of the group's (N, 3, H, W) images in [0, 1], without transforms."""
        batch = self.render(images, None)
        return mean_per_image(self.objective.activation(batch).float(), images.shape[0])

    @torch.no_grad()
    def final_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current images (N, 3, H, W) in [0, 1] and their target activation (N,), without transforms."""
        images = self.param().float().clamp(0, 1)
        return images, self.activation(images)
