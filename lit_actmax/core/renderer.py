"""``Renderer``: the plain-torch core of lit_actmax; one optimization step of a group of units, in any loop.

It holds the frozen backbone with its preprocessing, the probe on the target layer(s), the image
parameterization, the per-step transforms, the objective and the regularizers. A group of images is started with
:meth:`Renderer.start`; :meth:`Renderer.loss` is one step's loss; :meth:`Renderer.final_images` returns the
result. The Lightning module (:class:`~lit_actmax.lightning.module.ActMaxModule`) only calls these from its hooks, so a plain
loop makes the same images as the Trainer for the same settings and seed: per group of the
:class:`~lit_actmax.core.schedule.UnitSchedule`, ``start(group)``, a fresh optimizer over ``param.parameters()``,
``loss(step).loss.backward()`` and an optimizer step for each step, then ``final_images()`` (the README's "plain
PyTorch loop"; ``tests/test_renderer.py`` checks the equality).

Every random draw depends only on (seed, unit, variant, stream, step) (:mod:`lit_actmax.core.seeding`), so an image does
not depend on which other units share its group. Nor on how many: a backbone forward of a single row takes other CPU
kernels than one of several (torch runs a 1x1 convolution of one small image through ``slow_conv2d`` instead of
oneDNN, and lite0's images then differ by up to 65/255), so a forward of fewer than :data:`MIN_BACKBONE_ROWS` rows
gets a copy of its last row, whose activations are dropped (:func:`probe_padded`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Sequence

import torch
from torch import nn

from ..augment import Transform, set_progress
from ..backbones.backbone import Backbone, freeze
from ..backbones.layouts import LayerLayout
from ..backbones.probe import LayerProbe
from ..errors import ActMaxError, ConfigError
from ..image.io import load_image
from ..image.ops import as_hw
from ..objectives import ClassLogit, Objective, RenderBatch, merge_stated_layouts
from ..objectives.per_layer import PerLayer
from ..params import ImageParam, default_param
from .compile import compile_probe
from .default_transforms import default_transforms
from .divergence import check_rows, check_step
from .optim import OptimizerFactory, default_optimizer
from .schedule import UnitImage
from .seeding import STREAM_AUGMENT, STREAM_INIT, unit_generators

__all__ = ["MIN_BACKBONE_ROWS", "Renderer", "StepOutput", "probe_padded"]

ProbeCall = Callable[[torch.Tensor], dict[str, torch.Tensor]]

#: The fewest rows a backbone forward gets: with one row torch's CPU convolutions take other kernels (a 1x1
#: convolution of a small map runs ``slow_conv2d``, not oneDNN) than with two or more, where every batch size measured
#: (2-8) gives the same result per row.
MIN_BACKBONE_ROWS = 2


def probe_padded(probe: ProbeCall, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``probe`` on (B, C, H, W) backbone input ``x`` -> {layer: (B, ...) activation}; below
    :data:`MIN_BACKBONE_ROWS` rows, copies of the last row (detached) fill the batch and their activations are
    dropped, so a lone image takes the kernels of a batch. The copies cost their forward and backward, nothing else."""
    rows = x.shape[0]
    if rows >= MIN_BACKBONE_ROWS or rows == 0:
        return probe(x)
    filler = x[-1:].detach().expand(MIN_BACKBONE_ROWS - rows, *x.shape[1:])
    padded = torch.cat([x, filler])
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        padded = padded.contiguous(memory_format=torch.channels_last)
    return {name: acts[:rows] for name, acts in probe(padded).items()}


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
        backbone: the loaded backbone (:func:`~lit_actmax.backbones.load_backbone`); frozen and in eval mode.
        objective: what to maximize per image (default ``ClassLogit()``), or a
            :class:`~lit_actmax.objectives.per_layer.PerLayer` of one objective per target (units across layers). The
            renderer always scores through a ``PerLayer`` (``self.objective``): one objective is the one-target case.
        regularizers: terms subtracted from the objective.
        param: image parameterization (default :func:`~lit_actmax.params.default_param`: ``Fourier(decay_power=1.5)``).
        transforms: per-step augmentation (default :func:`~lit_actmax.core.default_transforms.default_transforms`:
            ``natural_transforms()`` for the model's output, ``mirrored_lucid_transforms()`` when the objective reads
            an inner layer); ``Compose([])`` for none.
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
        if init_image is not None:
            load_image(init_image, 8)  # a missing or unreadable file fails here, before anything is made
        self.backbone_info = backbone
        self.backbone = backbone.model
        self.preprocess = backbone.preprocess
        self.objective = PerLayer.of(objective if objective is not None else ClassLogit())
        self.regularizers = nn.ModuleList(regularizers)
        self.param = param if param is not None else default_param()
        self.transforms = transforms if transforms is not None else default_transforms(self.objective)
        self.size = as_hw(size)
        self.steps, self.seed = int(steps), int(seed)
        self.input_size = None if input_size is None else as_hw(input_size)
        self.channels_last, self.init_image = bool(channels_last), init_image
        self.layers = list(dict.fromkeys([*self.objective.layers, *(name for r in self.regularizers for name in r.layers)]))
        if not self.layers:
            raise ConfigError("The objective reads no layer; use e.g. ClassLogit('output') or Channel('<layer>').")
        self.probe = LayerProbe(self.backbone, self.layers)
        self.items: tuple[UnitImage, ...] = ()
        self.layer_shapes: dict[str, tuple[int, ...]] = {}
        self.layer_layouts: dict[str, LayerLayout] = {}  # set by validate()
        self.dry_run: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None  # validate()'s image and activations
        self._probe_call: ProbeCall | None = None

    # -- set-up -----------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for tensor in (*self.param.parameters(), *self.backbone.parameters(), *self.backbone.buffers()):
            return tensor.device
        return torch.device("cpu")

    def validate(self, units: Sequence[int], targets: Sequence[int] | None = None) -> dict[str, tuple[int, ...]]:
        """Dry-run one image through transforms, preprocessing and the probe; check size, layers and ``units`` (of
        ``targets``, one per unit, in a run of units across layers; None: all target 0).

        Returns ``{layer: activation shape per image}``. Raises :class:`ConfigError` with what to change.
        """
        h, w = self.size
        info = self.backbone_info
        if min(h, w) < info.min_size:
            raise ConfigError(f"Image size {h}x{w} is too small for backbone {info.spec!r}: use size >= {info.min_size}.")
        dummy = torch.full((1, 3, h, w), 0.5, device=self.device)
        self.probe.use_layers(None)
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
        terms = [self.objective, *self.regularizers]
        stated = merge_stated_layouts(term.stated_layouts() for term in terms)
        layouts = self.probe.layouts(x, stated, acts)  # ProbeError asks for the layout of a layer it cannot tell
        for name, layout in layouts.items():
            if layout.kind != "BC" and min(layout.grid) < 1:
                raise ConfigError(f"Layer {name!r} has an empty {shapes[name]} map at size {h}x{w}; increase `size`.")
        for term in terms:
            term.use_layouts(layouts)
        self.layer_layouts = layouts
        self.layer_shapes = shapes
        self.bind_terms()
        self.dry_run = (dummy, acts)
        self.check_units(units, targets)
        return shapes

    def check_units(self, units: Sequence[int], targets: Sequence[int] | None = None) -> None:
        """Check ``units`` (of ``targets``, one per unit; None: all target 0) against the layouts :meth:`validate`
        found: each in its target's range, and the first and last of each target scored on the dry run's image.
        Units across layers are checked here once their ids are known ("all" needs :meth:`unit_count`)."""
        if self.dry_run is None:
            raise RuntimeError("Renderer.check_units needs Renderer.validate's dry run first.")
        dummy, acts = self.dry_run
        targets = list(targets) if targets is not None else [0] * len(units)
        for target in dict.fromkeys(targets):
            mine = [u for u, t in zip(units, targets) if t == target]
            bound = self.unit_count(target)
            bad = [u for u in mine if bound is not None and u >= bound]
            if bad:
                raise ConfigError(f"Unit {bad[0]} is out of range for {self.describe_target(target)}: valid units are "
                                  f"0-{bound - 1}.")
            for unit in dict.fromkeys([mine[0], mine[-1]]):
                self.check_scores(RenderBatch(
                    acts=acts, units=torch.tensor([int(unit)], device=self.device), image=dummy,
                    variants=torch.zeros(1, dtype=torch.long, device=self.device),
                    targets=torch.tensor([int(target)], device=self.device)))

    def unit_count(self, target: int = 0) -> int | None:
        """How many units ``target`` (0 in a run of one objective) addresses (valid ids ``0 .. n-1``; None:
        unbounded). Needs :meth:`validate`'s layouts."""
        return self.objective.num_units_of(target, self.layer_layouts)

    def describe_target(self, target: int = 0) -> str:
        """The objective of ``target`` as text, e.g. ``Channel(_blocks.3)`` (the objective in a one-objective run)."""
        return self.objective.describe_target(target)

    @property
    def num_targets(self) -> int:
        """How many targets the objective has: its layers in a run of units across layers, else 1."""
        return len(self.objective.targets)

    @property
    def across_layers(self) -> bool:
        """Whether this is a run of units across layers (units are named ``"<layer>:<id>"``)."""
        return self.objective.across_layers

    def target_layer(self, target: int = 0) -> str:
        """The layer of ``target``: where its images are filed (its objective's first layer, else the first layer a
        regularizer reads)."""
        layers = self.objective.targets[target].layers
        return layers[0] if layers else self.layers[0]

    def bind_terms(self) -> None:
        """Give terms that need the renderer (e.g. ``ImageDistance``: its seed image and activations) the renderer."""
        for _, term in [*self.objective.terms(), *(t for r in self.regularizers for t in r.terms())]:
            bind = getattr(term, "bind", None)
            if bind is not None:
                bind(self)

    def check_scores(self, batch: RenderBatch) -> None:
        """Score a dry-run ``batch``; an objective or regularizer that cannot score it (a position outside the layer's
        map, a missing set, a shape it does not take) raises :class:`ConfigError` naming the term."""
        try:
            with torch.no_grad():
                self.score(batch)
        except ActMaxError:
            raise
        except (IndexError, KeyError, ValueError, RuntimeError) as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
            raise ConfigError(
                f"{self.describe_target(int(batch.targets[0]) if batch.targets is not None else 0)} cannot score unit "
                f"{int(batch.units[0])} of layer(s) {self.layers} "
                f"({type(error).__name__}: {first}); check the objective's layer, positions and units."
            ) from None

    def attach(self, compile_options: dict[str, Any] | None = None) -> None:
        """Hook the probe, bind terms that need the renderer (e.g. ``ImageDistance``), apply the speed options.

        ``compile_options``: ``torch.compile`` the truncated forward with these keyword arguments (None: eager).
        """
        freeze(self.backbone)
        self.probe.attach()
        self.bind_terms()
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if compile_options is not None and self._probe_call is None:
            self._probe_call = compile_probe(self.probe, **compile_options)

    @property
    def compiled(self) -> bool:
        """Whether the backbone's truncated forward runs through ``torch.compile`` (see :meth:`attach`)."""
        return self._probe_call is not None

    def detach(self) -> None:
        """Remove the probe's hooks and give a user's own model back as it came (``requires_grad``, train/eval):
        the backbone runs as the user's model again. :meth:`attach` freezes it again."""
        self.probe.remove()
        if self.backbone_info.user_state is not None:
            self.backbone_info.user_state.restore(self.backbone)

    def to_model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Augmented images (B, 3, h, w) in [0, 1] -> backbone input: resized to ``input_size``, or when that is None
        to the backbone's ``fixed_input_size`` (ViTs and other one-size models), then normalized."""
        x = self.backbone_info.model_input(images, self.input_size)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # -- a group ----------------------------------------------------------------------------------------
    def start(self, items: Sequence[UnitImage], size: Sequence[int] | None = None) -> None:
        """Make the group's images: one per item, from its unit's seed (or from ``init_image``), at ``size``."""
        self.items = tuple(UnitImage(*item) for item in items)
        self.probe.use_layers([*self.objective.layers_for(self.target_ids),
                               *(name for r in self.regularizers for name in r.layers_for(self.target_ids))])
        size = as_hw(size) if size is not None else self.size
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
    def target_ids(self) -> list[int]:
        return [item.target for item in self.items]

    @property
    def saved_mask(self) -> torch.Tensor:
        """(N,) bool: which images of the group are saved (False for a rank's padding images)."""
        return torch.tensor([item.saved for item in self.items], device=self.device)

    def render(self, images: torch.Tensor, step: int | None) -> RenderBatch:
        """Transform (seeded per unit and ``step``; ``None``: no transforms), preprocess and probe (N, 3, H, W)
        images in [0, 1] of the current group. With several views per image the batch has N * views rows."""
        if self.backbone.training:  # a user's model given back by detach(): never render with batch statistics
            freeze(self.backbone)
        units = torch.tensor(self.unit_ids, device=images.device, dtype=torch.long)
        variants = torch.tensor(self.variant_ids, device=images.device, dtype=torch.long)
        targets = torch.tensor(self.target_ids, device=images.device, dtype=torch.long)
        x = images
        if step is not None:
            generators = unit_generators(self.seed, self.unit_ids, self.variant_ids, STREAM_AUGMENT, step)
            set_progress(self.transforms, step / max(1, self.steps - 1))
            x = self.transforms(x, generators)
        acts = probe_padded(self._probe_call or self.probe, self.to_model_input(x))
        views = x.shape[0] // max(1, images.shape[0])
        if views > 1:  # several views per image (MultiCrop): rows b*views ... belong to image b
            units, variants = units.repeat_interleave(views), variants.repeat_interleave(views)
            targets, images = targets.repeat_interleave(views), images.repeat_interleave(views, dim=0)
        return RenderBatch(acts=acts, units=units, image=images, variants=variants, targets=targets)

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
        self.check_step(step, images, score, activations)
        return StepOutput(loss, activations)

    # -- divergence: a non-finite value stops the run, naming the units (lit_actmax.core.divergence) -----------
    def check_step(self, step: int, images: torch.Tensor, score: torch.Tensor, activations: torch.Tensor) -> None:
        """Raise :class:`DivergenceError` naming the units whose image parameters, image, activation or score (N,)
        at ``step`` are not finite, with the likely cause; one host sync when everything is finite."""
        check_step(list(self.param.parameters()), images, score, activations, step, self.unit_names)

    def check_gradients(self, step: int) -> None:
        """After ``backward`` of ``step``: raise :class:`DivergenceError` naming the units whose image gradients are
        not finite (call it before the optimizer step; a loss scaler of 16-bit training skips such steps itself)."""
        check_rows([p.grad for p in self.param.parameters()], self.param.count, step,
                   "{their} gradient is {kind} although {their} loss is finite",
                   "lower the optimizer's learning rate or the regularizer weights, or check the objective and "
                   "regularizers for a point without a gradient (a square root or a norm at 0?)", self.unit_names)

    def check_parameters(self, step: int) -> None:
        """After the optimizer step ``step``: raise :class:`DivergenceError` naming the units whose image parameters
        are not finite (before anything can save them)."""
        check_rows(list(self.param.parameters()), self.param.count, step,
                   "{their} image parameters became {kind} at the optimizer step", "lower the optimizer's learning rate",
                   self.unit_names)

    @property
    def unit_names(self) -> list[int | str]:
        """How messages name the group's images (one per image): :meth:`unit_name` of each."""
        return [self.unit_name(item) for item in self.items]

    def unit_name(self, item: UnitImage) -> int | str:
        """How messages name a unit: its id, or ``"<layer>:<id>"`` in a run of units across layers."""
        return f"{self.target_layer(item.target)}:{item.unit}" if self.objective.across_layers else item.unit

    @torch.no_grad()
    def activation(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) target activation of the group's (N, 3, H, W) images in [0, 1], without transforms."""
        batch = self.render(images, None)
        return mean_per_image(self.objective.activation(batch).float(), images.shape[0])

    def optimize(
        self, steps: int, optimizer_factory: OptimizerFactory | None = None,
        step_context: Callable[[int], ContextManager[Any]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Optimize the current group (:meth:`start`) for ``steps`` steps with a fresh optimizer (default Adam 0.02)
        and return :meth:`final_images`. ``step_context(step)``: a context each step's forward and backward run in
        (e.g. ``redirect_relus`` for the first steps). The Trainer's loop is the same, with callbacks between epochs."""
        optimizer = (optimizer_factory or default_optimizer)(self.param.parameters())
        for step in range(steps):
            optimizer.zero_grad()
            with step_context(step) if step_context is not None else contextlib.nullcontext():
                self.loss(step).loss.backward()
            optimizer.step()
        return self.final_images()

    @torch.no_grad()
    def final_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current images (N, 3, H, W) in [0, 1] and their target activation (N,), without transforms."""
        images = self.param().float().clamp(0, 1)
        return images, self.activation(images)
