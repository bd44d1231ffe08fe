"""``ActMaxModule``: the Lightning shell around :class:`~lit_actmax.core.renderer.Renderer`; only hooks live here.

The work is done by plain pieces (``UnitRequest``, ``Renderer``, ``UnitSchedule``, ``RunWriter``) and by the hooks'
helpers in this folder: ``groups`` (the group cycle), ``run_folder``, ``module_checkpoint``. Callbacks read only
``renderer``, ``schedule``, ``writer``, ``run_dir``, ``group_index``, ``epoch_in_group``, ``is_last_epoch_of_group``,
``step_in_group``, ``step_activations``, ``reset_optimizer_state()`` and ``run_finished``
(:class:`~lit_actmax.callbacks.ActMaxCallback`).
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..augment import Transform
from ..backbones.specs import load_backbone
from ..callbacks.pinned_numerics import PinnedNumerics
from ..callbacks.run_checkpoint import RunCheckpoint
from ..callbacks.run_guard import RunGuard
from ..callbacks.stop_signals import StopSignals
from ..core.divergence import check_after_each_step
from ..core.numerics import PINNED, Numerics
from ..core.optim import OptimizerFactory, check_optimizer, default_optimizer
from ..core.schedule import StepIndices
from ..core.unit_request import UnitRequest
from ..objectives import Objective
from ..params import ImageParam
from ..run.folders import check_writable
from ..run.records import FinishedUnits
from ..run.storage import Location, location
from ..run.writer import RunWriter
from .epoch_replay import replay_epoch_boundary
from .groups import finish_run, start_group, step_is_shown, sync_group, write_index
from .hparams import save_plain_hyperparameters
from .module_checkpoint import load_run_state, save_run_state
from .package import check_single_package, pl
from .quiet import quiet_lightning
from .run_folder import open_run_folder
from .strategy import check_trainer

__all__ = ["ActMaxModule"]

quiet_lightning()  # a Trainer for this module warns about max_epochs before any hook runs: lit_actmax.lightning.quiet


class ActMaxModule(pl.LightningModule):
    """Render what units of a frozen vision model respond to, through the Lightning Trainer.

    Args:
        backbone: model spec: ``"lite0"`` (default, offline), ``"torchvision:<name>"``, ``"timm:<name>"``,
            ``"open_clip:<arch>[:<tag>]"``, ``"transformers:<name>"``, ``"<module>:<callable>"`` or ``"<path>.ckpt"``.
        objective: what to maximize per image (default: ``ClassLogit("output")``).
        units: unit ids (``"0-7"``, ``"0-999:10"``, ``"1,5,9"``, an int or a list), or units across layers
            ``{layer or pattern: units}`` (e.g. ``{"_blocks.*": "0-7", "_blocks.3": "all", "output": "0-999:10"}``).
        objective_kind: with units across layers, every layer's objective: ``"auto"`` (``ClassLogit`` for ``output``,
            ``Channel`` elsewhere), ``"channel"``, ``"neuron"`` (the centre) or ``"class"``.
        regularizers: penalties subtracted from the objective (e.g. ``TotalVariation(0.05)``).
        param: image parameterization (default ``Fourier(decay_power=1.5)``, a photograph-like spectrum).
        transforms: per-step augmentation; ``Compose([])`` for none. Default by what the objective reads
            (:mod:`lit_actmax.core.default_transforms`): ``natural_transforms()`` (mirrored Lucid geometry and one
            native-resolution window per step) for the model's output, ``mirrored_lucid_transforms()`` (full-size
            mirrored views) when it reads an inner layer.
        size: side of the rendered images in pixels (or ``[h, w]``).
        batch_size: images optimized together (memory is bounded by this, not by the number of units).
        variants: images per unit (e.g. with a ``Diversity`` term); a unit's variants share a batch.
        steps_per_epoch: optimizer steps per epoch; between-epoch callbacks run after each epoch.
        epochs: epochs per group of units; total steps per unit = ``steps_per_epoch * epochs``.
        seed: base seed; a unit's image depends only on (config, seed, unit id).
        optimizer: a factory ``params -> Optimizer`` (LightningCLI: ``class_path``/``init_args``); default Adam(lr=0.02).
        weights: torchvision weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``None``).
        checkpoint_class: the LightningModule class of a ``.ckpt`` backbone.
        input_size: resize augmented images to this side before the backbone (None: feed as they are).
        out_dir: parent folder of run directories, local or an fsspec URL (``s3://bucket/runs``; options from fsspec's
            configuration, see :mod:`lit_actmax.run.storage`); ``run_name``: subfolder (default: from the backbone).
        run_dir: write into this folder instead of a new ``<out_dir>/<run_name>/version_<k>``, continuing it: units
            with complete records there are not rendered again; its ``settings.json`` must match this run's settings.
        save_outputs: write PNGs, records, the index and grids (False for pure in-memory use).
        channels_last: run the backbone in channels-last memory format (faster convolutions on GPUs).
        compile: ``torch.compile`` the backbone's forward up to the target layer (a dict: ``torch.compile``'s options).
        init_image: start every image from this image file instead of noise (feature accentuation, with
            ``ImageDistance`` to stay close to it).
        mean, std: override the backbone's input normalization ``(x - mean) / std`` of RGB in [0, 1]
            (``mean=[0, 0, 0], std=[1, 1, 1]`` feeds raw [0, 1] images, as midnite did); None keeps the backbone's.
        min_size: the smallest image side to accept (default: the backbone's, what its *output* needs; an early layer
            may run on less, e.g. AlexNet's ``features.8`` at 50 px).
        numerics: what every process pins for the fit (``Numerics``: "auto" intra-op threads (2 or 4), deterministic
            algorithms, no TF32), so any process count and batch size gives the same images; None keeps each
            process's own.
    """

    def __init__(
        self, backbone: str = "lite0", objective: Objective | None = None,
        units: str | int | list[int] | dict[str, str | int | list[int]] = "0-7", regularizers: list[Objective] | None = None,
        param: ImageParam | None = None, transforms: Transform | None = None, size: int | list[int] = 128,
        batch_size: int = 8, variants: int = 1, steps_per_epoch: int = 32, epochs: int = 8, seed: int = 0,
        optimizer: OptimizerFactory | None = None, weights: str | None = "DEFAULT", checkpoint_class: str | None = None,
        input_size: int | None = None, out_dir: str = "actmax_runs", run_name: str | None = None,
        save_outputs: bool = True, channels_last: bool = False, compile: bool | dict[str, Any] = False,
        init_image: str | None = None, mean: list[float] | None = None, std: list[float] | None = None,
        min_size: int | None = None, objective_kind: str = "auto", run_dir: str | None = None,
        numerics: Numerics | None = PINNED,
    ) -> None:
        check_single_package()  # a module of one Lightning package is refused by the other's Trainer: one sentence
        super().__init__()
        save_plain_hyperparameters(self, inspect.currentframe())  # plain values: yaml.safe_load, load_from_checkpoint
        self.spec = backbone
        request = UnitRequest.check(units, objective, objective_kind, batch_size, variants, epochs, steps_per_epoch)
        if save_outputs:
            check_writable(run_dir if run_dir is not None else out_dir, "run_dir" if run_dir is not None else "out_dir")
        self.optimizer_factory: OptimizerFactory = optimizer or default_optimizer
        check_optimizer(self.optimizer_factory)
        loaded = load_backbone(backbone, weights=weights, checkpoint_class=checkpoint_class, mean=mean, std=std)
        if min_size is not None:
            loaded.min_size = int(min_size)
        self.renderer, self.schedule = request.plan(  # every check that needs the model, before a run folder exists
            loaded, regularizers=regularizers or [], param=param, transforms=transforms,
            size=size if isinstance(size, int) else tuple(size), seed=seed, input_size=input_size,
            channels_last=channels_last, init_image=init_image)
        self.out_dir, self.run_name, self.save_outputs = out_dir, run_name, save_outputs
        self.continued_dir = location(run_dir, "run_dir") if run_dir is not None else None
        self.requested = self.schedule.keys  # every unit asked for; the schedule drops those a continued folder has
        self.nothing_left = False  # a continued folder holds every unit already: the fit only writes the index
        self.numerics = numerics.check() if numerics is not None else None  # a ConfigError before a run folder exists
        self.compile_options = (compile if isinstance(compile, dict) else {}) if compile else None
        self.writer: RunWriter | None = None
        self.group_index, self.batch_in_epoch = -1, 0
        self.step_activations: torch.Tensor | None = None  # (N,) last step's activation per image
        self.last_finished: FinishedUnits | None = None
        self.group_finished = False
        self.run_finished = False  # the last group and the index are written (lit_actmax.lightning.groups.finish_run)
        self.replay_boundary = False  # resumed right after an epoch's last batch: see lit_actmax.lightning.epoch_replay

    # -- the contract callbacks read ---------------------------------------------------------------------
    @property
    def run_dir(self) -> Location | None:
        """The run's folder (None before ``setup`` and when nothing is saved)."""
        return self.writer.run_dir if self.writer is not None else None

    @property
    def epoch_in_group(self) -> int:
        return self.schedule.epoch_in_group(self.current_epoch)

    @property
    def is_last_epoch_of_group(self) -> bool:
        return self.schedule.is_last_epoch_of_group(self.current_epoch)

    @property
    def step_in_group(self) -> int:
        """The optimizer step being taken (0-based, in the group); in ``on_before_optimizer_step`` also the number of
        steps the current images have had."""
        return self.schedule.step_in_group(self.current_epoch, self.batch_in_epoch)

    @property
    def attached_trainer(self) -> pl.Trainer | None:
        """The Trainer this module is attached to, or None (a module used outside ``fit``)."""
        return self._trainer

    def reset_optimizer_state(self, params: Sequence[nn.Parameter] | None = None) -> None:
        """Forget the optimizer state (e.g. Adam moments) of the image parameters, after a reset or resize."""
        params = list(params) if params is not None else list(self.renderer.param.parameters())
        for optimizer in self.trainer.optimizers if self._trainer is not None else []:
            for p in params:
                optimizer.state.pop(p, None)

    # -- set-up, run folder and checkpoints ----------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        trainer = self.trainer
        check_trainer(trainer)
        self.run_finished = False
        open_run_folder(self)  # a new folder, or the continued one with its finished units dropped from the schedule
        self.schedule = self.schedule.for_rank(trainer.global_rank, trainer.world_size)
        trainer.fit_loop.max_epochs = 0 if self.nothing_left else self.schedule.total_epochs
        self.renderer.attach(self.compile_options)
        if not self.nothing_left:
            start_group(self, 0, reset_optimizer=False)

    def make_writer(self, run_dir: Location) -> None:
        """Write this run's images into ``run_dir``."""
        self.writer = RunWriter.of(run_dir, self.renderer, self.schedule.variants, self.schedule.steps_per_unit, self.global_rank)

    def teardown(self, stage: str) -> None:
        self.renderer.detach()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        save_run_state(self, checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        load_run_state(self, checkpoint)

    def configure_callbacks(self) -> list[pl.Callback]:
        return [StopSignals(), RunCheckpoint(), RunGuard(), PinnedNumerics(self.numerics)]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.renderer.param.parameters())

    def train_dataloader(self) -> DataLoader:
        return DataLoader(StepIndices(self.schedule.steps_per_epoch), batch_size=None)

    # -- the group cycle (lit_actmax.lightning.groups) -----------------------------------------------------
    def on_train_start(self) -> None:
        if self.replay_boundary:  # resumed from an epoch's last batch: Lightning skips the epoch boundary hooks
            self.replay_boundary = False
            replay_epoch_boundary(self.trainer)

    def on_train_epoch_start(self) -> None:
        sync_group(self)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.batch_in_epoch = int(batch_idx)
        sync_group(self)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """The renderer's loss at the step in the group; a non-finite image, activation or score raises
        :class:`~lit_actmax.errors.DivergenceError` naming the units (``Renderer.check_step``)."""
        self.batch_in_epoch = int(batch_idx)
        out = self.renderer.loss(self.step_in_group)
        self.step_activations = out.activations
        if step_is_shown(self, batch_idx):
            saved = self.renderer.saved_mask
            n = int(saved.sum())
            self.log("activation", out.activations[saved].float().mean(), prog_bar=True, batch_size=n)
            self.log("loss", out.loss.detach() / max(n, 1), batch_size=n)
        return out.loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Stop on a non-finite image gradient (not under a 16-bit loss scaler, which skips those steps itself), and
        have the optimizer check the image parameters after every step it takes, so a diverged image stops the run
        before a checkpoint or a file holds it."""
        if getattr(self.trainer.precision_plugin, "scaler", None) is None:
            self.renderer.check_gradients(self.step_in_group)
        check_after_each_step(optimizer, lambda: self.renderer.check_parameters(self.step_in_group))

    def on_train_end(self) -> None:
        finish_run(self)  # the last group's units, then the index (global rank 0)

    def on_fit_end(self) -> None:
        finish_run(self)  # where Lightning ran no loop: a resume from the last epoch's end, nothing left to render

    def write_index(self) -> Location:
        """Write ``index.json`` and the per-layer grids from every rank's records (global rank 0)."""
        return write_index(self)
