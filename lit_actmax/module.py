"""``ActMaxModule``: the LightningModule that wires backbone, probe, objective, parameterization and augmentation.

How a run maps onto Lightning:

- The units to render are split across ranks (``units[rank::world_size]``), then into *groups* of
  ``batch_size`` images (a unit's variants always share a group). Only the current group's images are
  parameters, so memory is bounded by ``batch_size``, not by the number of units.
- Each group is optimized for ``epochs`` epochs of ``steps_per_epoch`` optimizer steps each; an *epoch* is
  the unit of the between-epoch callbacks (blur every k epochs, resize, ...). Set ``steps_per_epoch=1`` to
  express schedules in optimizer steps ("blur every 4 steps"), or e.g. ``steps_per_epoch=20`` for "transform
  after every 20 Adam steps". The module sets ``trainer.fit_loop.max_epochs = groups * epochs``.
- When a group's last epoch ends, its images are finished: callbacks that define ``on_units_finished`` see
  them (and may replace them, e.g. best-image tracking), then they are written as PNGs with a JSON record.
- At the end of training all ranks meet; global rank 0 writes ``index.json`` and one grid PNG per layer.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_warn
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from .accentuate import load_image
from .augment import Compose, Transform, lucid_transforms, set_progress
from .models import Backbone, load_backbone
from .objectives import ClassLogit, Objective, RenderBatch
from .params import Fourier, ImageParam, as_size
from .probe import LayerProbe, ProbeError
from .report import contact_sheet
from .rundir import image_stem, iter_records, new_run_dir, safe_name, save_png, write_json
from .resume import replay_epoch_boundary, skipped_epoch_boundary
from .seeding import STREAM_AUGMENT, STREAM_INIT, unit_generators, unit_seed
from .sharding import ShardError, check_world_size
from .speed import compile_probe
from .strategy import UnitParallelStrategy
from .units import parse_units

__all__ = ["ActMaxModule", "FinishedUnits", "ConfigError", "default_optimizer"]

OptimizerFactory = Callable[[Iterable[torch.Tensor]], torch.optim.Optimizer]


class ConfigError(ValueError):
    """A setting of the run that cannot work; the message says what to change."""


def default_optimizer(params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    """Adam with lr 0.05 (Lucid's default for Fourier images)."""
    return torch.optim.Adam(params, lr=0.05)


@dataclass
class FinishedUnits:
    """A group's final images, handed to callbacks' ``on_units_finished`` before they are written.

    ``images``: (N, 3, H, W) in [0, 1]; ``activations``: (N,) target activation of the un-augmented images;
    ``valid``: (N,) bool, False for padding images that are not saved. Callbacks may replace ``images`` and
    ``activations`` (e.g. with the best seen) and add per-image extras to ``extras[i]``
    (saved into each record) or files to ``files[i]`` (name -> path relative to the run directory).
    """

    units: list[int]
    variants: list[int]
    images: torch.Tensor
    activations: torch.Tensor
    valid: list[bool]
    extras: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.extras:
            self.extras = [{} for _ in self.units]
        if not self.files:
            self.files = [{} for _ in self.units]


class _StepIndices(IterableDataset):
    """Yields the step indices of one epoch; the module holds the images, so a batch is just a step number."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[torch.Tensor]:
        for i in range(self.steps):
            yield torch.tensor(i)

    def __len__(self) -> int:
        return self.steps


class ActMaxModule(pl.LightningModule):
    """Render what units of a frozen vision model respond to, through the Lightning Trainer.

    Args:
        backbone: model spec: ``"lite0"`` (default, offline), ``"torchvision:<name>"``, ``"<module>:<callable>"``
            or ``"<path>.ckpt"`` (with ``checkpoint_class``).
        objective: what to maximize per image (default: ``ClassLogit("output")``).
        units: unit ids to render: ``"0-7"``, ``"0-999:10"``, ``"1,5,9"``, an int or a list.
        regularizers: penalties subtracted from the objective (e.g. ``TotalVariation(0.05)``).
        param: image parameterization (default ``Fourier()``: Lucid's decorrelated Fourier images).
        transforms: per-step augmentation (default: Lucid's standard set); ``Compose([])`` for none.
        size: side of the rendered images in pixels (or ``[h, w]``).
        batch_size: images optimized together (memory is bounded by this, not by the number of units).
        variants: images per unit (e.g. with a ``Diversity`` term); a unit's variants share a batch.
        steps_per_epoch: optimizer steps per epoch; between-epoch callbacks run after each epoch.
        epochs: epochs per group of units; total steps per unit = ``steps_per_epoch * epochs``.
        seed: base seed; a unit's image depends only on (config, seed, unit id).
        optimizer: a factory ``params -> Optimizer`` (LightningCLI: ``class_path``/``init_args``);
            default Adam(lr=0.05).
        weights: torchvision weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``None``).
        checkpoint_class: the LightningModule class of a ``.ckpt`` backbone.
        input_size: resize augmented images to this side before the backbone (None: feed as they are).
        out_dir: parent folder of run directories; ``run_name``: subfolder (default: derived from backbone).
        save_outputs: write PNGs, records, the index and grids (False for pure in-memory use).
        channels_last: run the backbone in channels-last memory format (faster convolutions on GPUs).
        compile: ``torch.compile`` the backbone's forward up to the target layer (keeps the early exit); a dict
            is passed to ``torch.compile`` (e.g. ``{"mode": "max-autotune"}``).
        init_image: start every image from this image file instead of noise (feature accentuation; pair it with
            ``lit_actmax.accentuate.ImageDistance`` to stay close to it).
        mean, std: override the backbone's input normalization ``(x - mean) / std`` of RGB in [0, 1] (e.g. a
            model trained with other statistics; ``mean=[0, 0, 0], std=[1, 1, 1]`` feeds raw [0, 1] images, as
            midnite did); None keeps the backbone's own.
        min_size: the smallest image side to accept (default: the backbone's, which is what its *output* needs;
            an early layer may run on less, e.g. AlexNet's ``features.8`` at 50 px, which midnite starts from).
    """

    def __init__(
        self,
        backbone: str = "lite0",
        objective: Objective | None = None,
        units: str | int | list[int] = "0-7",
        regularizers: list[Objective] | None = None,
        param: ImageParam | None = None,
        transforms: Transform | None = None,
        size: int | list[int] = 128,
        batch_size: int = 8,
        variants: int = 1,
        steps_per_epoch: int = 32,
        epochs: int = 8,
        seed: int = 0,
        optimizer: OptimizerFactory | None = None,
        weights: str | None = "DEFAULT",
        checkpoint_class: str | None = None,
        input_size: int | None = None,
        out_dir: str = "actmax_runs",
        run_name: str | None = None,
        save_outputs: bool = True,
        channels_last: bool = False,
        compile: bool | dict[str, Any] = False,
        init_image: str | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        min_size: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["objective", "regularizers", "param", "transforms", "optimizer"])
        for name, value, low in (("batch_size", batch_size, 1), ("variants", variants, 1),
                                 ("steps_per_epoch", steps_per_epoch, 1), ("epochs", epochs, 1)):
            if int(value) < low:
                raise ConfigError(f"{name} must be at least {low}, got {value}.")
        if variants > batch_size:
            raise ConfigError(f"variants ({variants}) must not exceed batch_size ({batch_size}): a unit's variants share a batch.")
        self.spec = backbone
        self.units_all = parse_units(units)
        self.size = as_size(size if isinstance(size, int) else tuple(size))
        self.batch_size, self.variants = int(batch_size), int(variants)
        self.steps_per_epoch, self.epochs, self.seed = int(steps_per_epoch), int(epochs), int(seed)
        self.input_size = input_size
        self.out_dir, self.run_name, self.save_outputs = out_dir, run_name, save_outputs
        self.channels_last, self.compile_backbone = bool(channels_last), compile
        self.init_image = init_image
        if init_image is not None and not Path(init_image).is_file():
            raise ConfigError(f"init_image {init_image!r} is not a file; give the path of a PNG or JPEG image.")
        self._probe_call: Callable[[torch.Tensor], dict[str, torch.Tensor]] | None = None  # compiled probe (setup)
        self._replay_boundary = False  # resumed right after an epoch's last batch: see lit_actmax.resume
        self.optimizer_factory: OptimizerFactory = optimizer or default_optimizer

        self.objective = objective if objective is not None else ClassLogit()
        self.regularizers = nn.ModuleList(regularizers or [])
        self.param = param if param is not None else Fourier()
        self.transforms = transforms if transforms is not None else lucid_transforms()

        # The backbone is a submodule (so it follows the device) but is kept out of checkpoints.
        loaded: Backbone = load_backbone(backbone, weights=weights, checkpoint_class=checkpoint_class, mean=mean, std=std)
        if min_size is not None:
            loaded.min_size = int(min_size)
        self.backbone_info = loaded
        self.backbone = loaded.model
        self.preprocess = loaded.preprocess
        self.layers = list(dict.fromkeys([*self.objective.layers, *(l for r in self.regularizers for l in r.layers)]))
        if not self.layers:
            raise ConfigError("The objective reads no layer; use e.g. ClassLogit('output') or Channel('<layer>').")
        self.probe = LayerProbe(self.backbone, self.layers)
        self.layer_shapes = self._validate()

        # Rendering state (set in setup / per group).
        self.run_dir: Path | None = None
        self.my_units: list[int] = []
        self.groups: list[list[tuple[int, int, bool]]] = []
        self.group_index = -1
        self._group_finished = False
        self.last_finished: FinishedUnits | None = None
        self.step_activations: torch.Tensor | None = None  # (N,) last step's activation per image (curves)

    # -- validation, before any optimization ------------------------------------------------------------
    def _validate(self) -> dict[str, tuple[int, ...]]:
        """Dry-run one image through augmentation, preprocessing and the probe; check layers, units, sizes."""
        h, w = self.size
        info = self.backbone_info
        if min(h, w) < info.min_size:
            raise ConfigError(
                f"Image size {h}x{w} is too small for backbone {self.spec!r}: use size >= {info.min_size}."
            )
        dummy = torch.full((1, 3, h, w), 0.5)
        generators = unit_generators(self.seed, [0], [0], STREAM_AUGMENT)
        with torch.no_grad():
            x = self._to_model_input(self.transforms(dummy, generators))
            try:
                self.probe.check(x)
                acts = self.probe(x)
            except RuntimeError as error:
                raise ConfigError(
                    f"Backbone {self.spec!r} cannot run on {h}x{w} images up to layer(s) {self.layers} "
                    f"({str(error).splitlines()[0][:120]}); increase `size` (e.g. to {info.input_size})."
                ) from None
        shapes = {name: tuple(a.shape[1:]) for name, a in acts.items()}
        for name, shape in shapes.items():
            if len(shape) == 3 and min(shape[1:]) < 1:
                raise ConfigError(f"Layer {name!r} has an empty {shape} map at size {h}x{w}; increase `size`.")
        bound = self.objective.num_units(shapes)
        if bound is not None:
            bad = [u for u in self.units_all if u >= bound]
            if bad:
                raise ConfigError(
                    f"Unit {bad[0]} is out of range for {self.objective.describe()}: valid units are 0-{bound - 1}."
                )
        return shapes

    def _to_model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Augmented images (B, 3, h, w) in [0, 1] -> backbone input (resized, normalized)."""
        if self.input_size is not None and tuple(x.shape[-2:]) != as_size(self.input_size):
            x = F.interpolate(x, size=as_size(self.input_size), mode="bilinear", align_corners=False, antialias=True)
        x = self.preprocess(x)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # -- checkpoints: keep the backbone out -------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith(("backbone.", "preprocess."))]:
            del state[key]
        checkpoint["actmax"] = {
            "backbone": self.spec,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "group_index": self.group_index,
            "image_size": list(self.param.size),
            "image_count": self.param.count,
            "batch_size": self.batch_size,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("actmax", {})
        if meta.get("backbone") not in (None, self.spec):
            raise ConfigError(
                f"This checkpoint was made with backbone {meta.get('backbone')!r}, not {self.spec!r}; use the same config."
            )
        try:  # a multi-process checkpoint restores only onto as many ranks, each getting its own shard
            check_world_size(checkpoint, self.trainer.world_size if self._trainer is not None else 1)
        except ShardError as error:
            raise ConfigError(str(error)) from None
        self._replay_boundary = skipped_epoch_boundary(checkpoint)
        state = checkpoint.setdefault("state_dict", {})
        for key, value in self.state_dict().items():
            if key.startswith(("backbone.", "preprocess.")):
                state[key] = value
        if meta.get("run_dir"):
            self._adopt_run_dir(Path(meta["run_dir"]))
        saved_batch = int(meta.get("batch_size", self.batch_size))
        if saved_batch != self.batch_size and self.groups:  # groups must be the checkpoint's groups
            rank_zero_warn(f"Resuming with the checkpoint's batch_size={saved_batch} (not {self.batch_size}).")
            self.batch_size = self.hparams["batch_size"] = saved_batch
            self._build_groups(self.trainer.global_rank, self.trainer.world_size)
        group = int(meta.get("group_index", -1))
        if group >= 0 and self.groups:
            self._start_group(group, size=tuple(meta["image_size"]), reset_optimizer=False)
        else:  # shapes must match the checkpoint before Lightning copies the tensors in
            for key, value in state.items():
                if key.startswith("param."):
                    target = self.get_parameter(key) if key in dict(self.named_parameters()) else None
                    if target is not None and target.shape != value.shape:
                        target.data = torch.empty_like(value, device=target.device)

    # -- setup ------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        trainer = self.trainer
        self._check_trainer(trainer)
        self._build_groups(trainer.global_rank, trainer.world_size)
        if self.save_outputs and self.run_dir is None:
            name = self.run_name or safe_name(self.spec.replace("torchvision:", "").replace(":", "_"))
            path = new_run_dir(self.out_dir, name) if trainer.is_global_zero else None
            self.run_dir = Path(trainer.strategy.broadcast(str(path) if path else None, src=0))
        self.probe.attach()
        for _, term in [*self.objective.terms(), *(t for r in self.regularizers for t in r.terms())]:
            if hasattr(term, "bind"):  # terms that need the module, e.g. ImageDistance's seed activations
                term.bind(self)
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if self.compile_backbone and self._probe_call is None:
            options = self.compile_backbone if isinstance(self.compile_backbone, dict) else {}
            self._probe_call = compile_probe(self.probe, **options)
        self._start_group(0, reset_optimizer=False)

    def _build_groups(self, rank: int, world: int) -> None:
        """Split the units across ranks, then into groups of ``batch_size`` images; set the epoch count."""
        self.my_units = self.units_all[rank::world]
        per_group = max(1, self.batch_size // self.variants)
        total_groups = math.ceil(len(self.units_all) / (per_group * world))
        groups = []
        for g in range(total_groups):
            chunk = self.my_units[g * per_group:(g + 1) * per_group]
            items = [(u, v, True) for u in chunk for v in range(self.variants)]
            if not items:  # this rank has fewer units: repeat its last unit, unsaved, to keep ranks in step
                fallback = self.my_units[-1] if self.my_units else self.units_all[0]
                items = [(fallback, v, False) for v in range(self.variants)]
            groups.append(items)
        self.groups = groups
        self.trainer.fit_loop.max_epochs = len(groups) * self.epochs

    def _check_trainer(self, trainer: pl.Trainer) -> None:
        """Refuse Trainer settings that would couple the images of different units."""
        if trainer.gradient_clip_val:
            raise ConfigError(
                "Trainer(gradient_clip_val=...) clips the norm of all images' gradients together, which couples "
                "units; remove it (clip per unit in the module instead)."
            )
        if trainer.world_size > 1 and not isinstance(trainer.strategy, UnitParallelStrategy):
            raise ConfigError(
                f"{trainer.world_size} processes need strategy='unit_parallel': {type(trainer.strategy).__name__} "
                "would sync image parameters and gradients across ranks and mix different units' images."
            )

    def teardown(self, stage: str) -> None:
        self.probe.remove()

    def _adopt_run_dir(self, path: Path) -> None:
        """On resume: keep writing into the original run directory (drop the empty one made in setup)."""
        if self.run_dir is not None and self.run_dir != path and self.trainer.is_global_zero:
            try:
                self.run_dir.rmdir()
            except OSError:
                pass
        self.run_dir = path

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.param.parameters())

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_StepIndices(self.steps_per_epoch), batch_size=None)

    # -- groups -----------------------------------------------------------------------------------------
    @property
    def current_items(self) -> list[tuple[int, int, bool]]:
        return self.groups[self.group_index] if 0 <= self.group_index < len(self.groups) else []

    @property
    def epoch_in_group(self) -> int:
        return self.current_epoch % self.epochs

    @property
    def is_last_epoch_of_group(self) -> bool:
        return self.epoch_in_group == self.epochs - 1

    def unit_tensor(self) -> torch.Tensor:
        return torch.tensor([u for u, _, _ in self.current_items], device=self.device, dtype=torch.long)

    def variant_tensor(self) -> torch.Tensor:
        return torch.tensor([v for _, v, _ in self.current_items], device=self.device, dtype=torch.long)

    def _start_group(self, index: int, size: tuple[int, int] | None = None, reset_optimizer: bool = True) -> None:
        self.group_index = index
        items = self.groups[index]
        generators = unit_generators(self.seed, [u for u, _, _ in items], [v for _, v, _ in items], STREAM_INIT)
        self.param.reset(generators, size or self.size)
        if self.init_image is not None:
            seed = load_image(self.init_image, size or self.size).to(self.device)
            self.param.set_image(seed.expand(len(items), -1, -1, -1))
        if reset_optimizer:
            self.reset_optimizer_state()
        self._group_finished = False
        for callback in self._actmax_callbacks():
            hook = getattr(callback, "on_units_started", None)
            if hook is not None:
                hook(self.trainer, self, items)

    def reset_optimizer_state(self, params: Sequence[nn.Parameter] | None = None) -> None:
        """Forget optimizer state (e.g. Adam moments) of the image parameters, after a reset or resize."""
        if self._trainer is None:
            return
        params = list(params) if params is not None else list(self.param.parameters())
        for optimizer in self.trainer.optimizers:
            for p in params:
                optimizer.state.pop(p, None)

    def _actmax_callbacks(self) -> list[pl.Callback]:
        if self._trainer is None:
            return []
        return [c for c in self.trainer.callbacks if hasattr(c, "on_units_finished") or hasattr(c, "on_units_started")]

    def on_train_epoch_start(self) -> None:
        self._sync_group()

    def on_train_start(self) -> None:
        if self._replay_boundary:  # resumed from an epoch's last batch: Lightning skips the epoch boundary hooks
            self._replay_boundary = False
            replay_epoch_boundary(self.trainer)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._sync_group()  # the group follows the epoch even where Lightning skipped on_train_epoch_start

    def _sync_group(self) -> None:
        """Finish the current group and start the one the current epoch belongs to, if they differ."""
        group = self.current_epoch // self.epochs
        if group != self.group_index:
            if not self._group_finished and self.group_index >= 0:
                self.finish_group()
            self._start_group(group)

    def on_train_end(self) -> None:
        if not self._group_finished and self.group_index >= 0:
            self.finish_group()
        self.trainer.strategy.barrier("actmax_outputs")
        if self.save_outputs and self.trainer.is_global_zero:
            self.write_index()

    # -- the step ---------------------------------------------------------------------------------------
    def render_batch(self, images: torch.Tensor, step: int | None, augment: bool = True) -> RenderBatch:
        """Run augmentation (seeded per unit and ``step``), preprocessing and the probe on (N, 3, H, W) images."""
        units, variants = self.unit_tensor(), self.variant_tensor()
        x = images
        if augment:
            generators = unit_generators(self.seed, units.tolist(), variants.tolist(), STREAM_AUGMENT, step or 0)
            set_progress(self.transforms, (step or 0) / max(1, self.steps_per_epoch * self.epochs - 1))
            x = self.transforms(x, generators)
        acts = (self._probe_call or self.probe)(self._to_model_input(x))
        views = x.shape[0] // max(1, images.shape[0])
        if views > 1:  # several views per image (MultiCrop): rows b*views ... belong to image b
            units, variants = units.repeat_interleave(views), variants.repeat_interleave(views)
            images = images.repeat_interleave(views, dim=0)
        return RenderBatch(acts=acts, units=units, image=images, variants=variants)

    def total_objective(self, batch: RenderBatch) -> torch.Tensor:
        """(B,) objective minus regularizers."""
        score = self.objective(batch)
        for regularizer in self.regularizers:
            score = score - regularizer(batch)
        return score

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        step = self.epoch_in_group * self.steps_per_epoch + int(batch_idx)
        images = self.param()
        rendered = self.render_batch(images, step)
        n_images = images.shape[0]
        score = _mean_per_image(self.total_objective(rendered), n_images)
        valid = torch.tensor([ok for _, _, ok in self.current_items], device=score.device)
        loss = -(score * valid).sum()
        with torch.no_grad():
            per_image = _mean_per_image(self.objective.activation(rendered), n_images)
            self.step_activations = per_image.detach()
            activation = per_image[valid]
        if self._step_is_shown(batch_idx):
            n = int(valid.sum())
            self.log("activation", activation.float().mean(), prog_bar=True, batch_size=n)
            self.log("loss", loss.detach() / max(n, 1), batch_size=n)
        return loss

    def _step_is_shown(self, batch_idx: int) -> bool:
        """Whether this step's ``activation``/``loss`` reach anyone: a logger write (every ``log_every_n_steps``),
        a progress bar, or the end of an epoch (for callbacks that monitor them). ``self.log`` costs about 0.5 ms
        per call, 1-2% of a CPU step, so steps nobody sees skip it; ``step_activations`` holds every step's values."""
        trainer = self._trainer
        if trainer is None:
            return True
        return (trainer.progress_bar_callback is not None or trainer._logger_connector.should_update_logs
                or batch_idx + 1 >= self.steps_per_epoch)

    # -- finishing --------------------------------------------------------------------------------------
    @torch.no_grad()
    def final_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current group's images (N, 3, H, W) in [0, 1] and their target activation (N,), un-augmented."""
        images = self.param().float().clamp(0, 1)
        activation = self.objective.activation(self.render_batch(images, None, augment=False)).float()
        return images, activation

    def finish_group(self) -> FinishedUnits:
        """Hand the finished group to callbacks, then write its PNGs and records."""
        images, activations = self.final_images()
        items = self.current_items
        finished = FinishedUnits(
            units=[u for u, _, _ in items], variants=[v for _, v, _ in items],
            images=images, activations=activations, valid=[ok for _, _, ok in items],
        )
        for callback in self._actmax_callbacks():
            hook = getattr(callback, "on_units_finished", None)
            if hook is not None:
                hook(self.trainer, self, finished)
        if self.save_outputs and self.run_dir is not None:
            self._write_units(finished)
        self._group_finished = True
        self.last_finished = finished
        return finished

    @property
    def layer_label(self) -> str:
        """The folder name of the objective's main layer."""
        return safe_name(self.layers[0])

    def unit_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "images" / self.layer_label

    def _write_units(self, finished: FinishedUnits) -> None:
        folder = self.unit_dir()
        names = self.backbone_info.class_names
        for i, (unit, variant) in enumerate(zip(finished.units, finished.variants)):
            if not finished.valid[i]:
                continue
            stem = image_stem(unit, variant, self.variants)
            save_png(folder / f"{stem}.png", finished.images[i])
            record = {
                "unit": unit,
                "variant": variant,
                "layer": self.layers[0],
                "objective": self.objective.describe(),
                "activation": float(finished.activations[i]),
                "seed": unit_seed(self.seed, unit, variant, STREAM_INIT),
                "base_seed": self.seed,
                "image": f"images/{self.layer_label}/{stem}.png",
                "size": list(finished.images.shape[-2:]),
                "rank": self.global_rank,
                "steps": self.steps_per_epoch * self.epochs,
                "files": finished.files[i],
                **finished.extras[i],
            }
            if names is not None and self.objective.layers[:1] == ("output",) and unit < len(names):
                record["label"] = names[unit]
            write_json(folder / f"{stem}.json", record)

    def write_index(self) -> Path:
        """Write ``index.json`` and the per-layer grids from the per-unit records (global rank 0)."""
        assert self.run_dir is not None
        records = list(iter_records(self.run_dir))
        wanted = {(u, v) for u in self.units_all for v in range(self.variants)}
        records = [r for r in records if (r["unit"], r["variant"]) in wanted]
        grids = {}
        for layer in sorted({r["layer"] for r in records}):
            rows = [r for r in records if r["layer"] == layer]
            labels = [f"{r['unit']}" + (f" {r['label']}" if r.get("label") else "") for r in rows]
            sheet = contact_sheet([self.run_dir / r["image"] for r in rows], labels, tile=min(128, self.size[0]))
            grid_path = self.run_dir / "grids" / f"{safe_name(layer)}.png"
            save_png(grid_path, sheet)
            grids[layer] = str(grid_path.relative_to(self.run_dir))
        index = {
            "format": "lit_actmax.index/1",
            "backbone": self.spec,
            "objective": self.objective.describe(),
            "regularizers": [r.describe() for r in self.regularizers],
            "layers": self.layers,
            "param": type(self.param).__name__,
            "size": list(self.size),
            "steps_per_unit": self.steps_per_epoch * self.epochs,
            "seed": self.seed,
            "world_size": self.trainer.world_size if self._trainer is not None else 1,
            "config": _jsonable(dict(self.hparams)),
            "grids": grids,
            "units": records,
        }
        for callback in self.trainer.callbacks if self._trainer is not None else []:
            entries = getattr(callback, "index_entries", None)  # e.g. run-level metrics (QualityMetrics)
            if entries is not None:
                index.update(entries())
        path = self.run_dir / "index.json"
        write_json(path, index)
        return path


def _mean_per_image(values: torch.Tensor, n_images: int) -> torch.Tensor:
    """(n_images * views,) scores of consecutive views -> (n_images,) means."""
    return values.view(n_images, -1).mean(1)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
