"""``ActMaxModule``: the Lightning shell around :class:`~lit_actmax.core.renderer.Renderer`; only hooks live here.

Three plain pieces do the work: the :class:`~lit_actmax.core.renderer.Renderer` (one step of a group of units), the
:class:`~lit_actmax.core.schedule.UnitSchedule` (which units this rank renders, in which groups, at which epoch)
and the :class:`~lit_actmax.run.writer.RunWriter` (PNGs, records, grids, index). The hooks below call them:

- ``setup``: shard the units for this rank, set ``max_epochs = groups * epochs``, make the run folder, hook the
  probe, start group 0.
- ``on_train_epoch_start`` / ``on_train_batch_start``: when the epoch enters a new group, finish the old one
  (callbacks' ``on_units_finished``, then the writer) and start the new one (``on_units_started``).
- ``training_step``: the renderer's loss at the step in the group.
- ``on_train_end``: finish the last group; all ranks meet; global rank 0 writes the index and grids.

What callbacks may use (the contract of :class:`~lit_actmax.callbacks.ActMaxCallback`): ``renderer``, ``schedule``,
``writer`` and ``run_dir`` (None when nothing is saved), ``group_index``, ``epoch_in_group``, ``is_last_epoch_of_group``,
``step_in_group``, ``step_activations`` and ``reset_optimizer_state()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch import nn
from torch.utils.data import DataLoader

from ..augment import Transform
from ..backbones.registry import load_backbone
from ..callbacks.base import ActMaxCallback
from ..callbacks.pinned_numerics import PinnedNumerics
from ..callbacks.run_checkpoint import RunCheckpoint, image_callbacks
from ..callbacks.run_guard import RunGuard
from ..core.layer_selection import (
    OBJECTIVE_KINDS,
    PerLayer,
    check_objective_kind,
    is_layer_selection,
    objective_for,
    resolve_units,
    select_layers,
)
from ..core.numerics import PINNED, Numerics
from ..core.optim import OptimizerFactory, check_optimizer, default_optimizer
from ..core.renderer import Renderer
from ..core.schedule import StepIndices, UnitImage, UnitSchedule
from ..core.units import MAX_UNITS, parse_units
from ..errors import ConfigError, ShardError, UnitSpecError
from ..objectives import Objective
from ..params import ImageParam
from ..run.checkpoint_state import (
    CHECKPOINT_KEY,
    RunState,
    describe_differences,
    drop_frozen,
    fingerprint,
    fingerprint_differences,
    match_parameter_shapes,
    rename_legacy_keys,
    restore_frozen,
)
from ..run.writer import (
    SETTINGS_FILE,
    FinishedUnits,
    RunSummary,
    RunWriter,
    check_writable,
    jsonable,
    new_run_dir,
    read_json,
    remove_if_unused,
    run_name_of,
    write_json,
)
from .checkpoint_shards import check_world_size
from .epoch_replay import replay_epoch_boundary, skipped_epoch_boundary
from .quiet import quiet_lightning
from .strategy import check_trainer

__all__ = ["ActMaxModule"]

quiet_lightning()  # a Trainer for this module warns about max_epochs before any hook runs: lit_actmax.lightning.quiet


class ActMaxModule(pl.LightningModule):
    """Render what units of a frozen vision model respond to, through the Lightning Trainer.

    Args:
        backbone: model spec: ``"lite0"`` (default, offline), ``"torchvision:<name>"``, ``"<module>:<callable>"``
            or ``"<path>.ckpt"`` (with ``checkpoint_class``).
        objective: what to maximize per image (default: ``ClassLogit("output")``).
        units: unit ids to render: ``"0-7"``, ``"0-999:10"``, ``"1,5,9"``, an int or a list; or units across layers,
            ``{layer or pattern: units}`` (e.g. ``{"_blocks.3": "all", "_blocks.*": "0-7", "output": "0-999:10"}``,
            see :mod:`lit_actmax.core.layer_selection`), each layer with the objective of ``objective_kind``.
        objective_kind: with units across layers, the objective of every layer: ``"auto"`` (``ClassLogit`` for
            ``output``, ``Channel`` elsewhere), ``"channel"``, ``"neuron"`` (the centre) or ``"class"``.
        regularizers: penalties subtracted from the objective (e.g. ``TotalVariation(0.05)``).
        param: image parameterization (default ``Fourier(decay_power=1.5)``: decorrelated Fourier images with a
            photograph-like spectrum, :func:`~lit_actmax.params.default_param`).
        transforms: per-step augmentation (default :func:`~lit_actmax.augment.natural_transforms`: mirrored Lucid
            geometry and one native-resolution window per step); ``Compose([])`` for none.
        size: side of the rendered images in pixels (or ``[h, w]``).
        batch_size: images optimized together (memory is bounded by this, not by the number of units).
        variants: images per unit (e.g. with a ``Diversity`` term); a unit's variants share a batch.
        steps_per_epoch: optimizer steps per epoch; between-epoch callbacks run after each epoch.
        epochs: epochs per group of units; total steps per unit = ``steps_per_epoch * epochs``.
        seed: base seed; a unit's image depends only on (config, seed, unit id).
        optimizer: a factory ``params -> Optimizer`` (LightningCLI: ``class_path``/``init_args``);
            default Adam(lr=0.02).
        weights: torchvision weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``None``).
        checkpoint_class: the LightningModule class of a ``.ckpt`` backbone.
        input_size: resize augmented images to this side before the backbone (None: feed as they are).
        out_dir: parent folder of run directories; ``run_name``: subfolder (default: derived from backbone).
        run_dir: write into this folder instead of a new ``<out_dir>/<run_name>/version_<k>``, continuing it: units
            with complete records there are not rendered again (a run with more layers or units renders only what
            is missing; a killed run is continued by running it again). The folder's ``settings.json`` must match
            this run's settings, else nothing is done.
        save_outputs: write PNGs, records, the index and grids (False for pure in-memory use).
        channels_last: run the backbone in channels-last memory format (faster convolutions on GPUs).
        compile: ``torch.compile`` the backbone's forward up to the target layer (keeps the early exit); a dict
            is passed to ``torch.compile`` (e.g. ``{"mode": "max-autotune"}``).
        init_image: start every image from this image file instead of noise (feature accentuation; pair it with
            ``lit_actmax.objectives.image_distance.ImageDistance`` to stay close to it).
        mean, std: override the backbone's input normalization ``(x - mean) / std`` of RGB in [0, 1] (e.g. a
            model trained with other statistics; ``mean=[0, 0, 0], std=[1, 1, 1]`` feeds raw [0, 1] images, as
            midnite did); None keeps the backbone's own.
        min_size: the smallest image side to accept (default: the backbone's, which is what its *output* needs;
            an early layer may run on less, e.g. AlexNet's ``features.8`` at 50 px, which midnite starts from).
        numerics: what every process pins for the fit (``lit_actmax.core.numerics.Numerics``: 2 intra-op threads,
            deterministic algorithms, no TF32), so any process count and batch size gives the same images; None keeps
            each process's own settings (Lightning gives N processes ``cores / N`` threads each).
    """

    def __init__(
        self,
        backbone: str = "lite0",
        objective: Objective | None = None,
        units: str | int | list[int] | dict[str, str | int | list[int]] = "0-7",
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
        objective_kind: str = "auto",
        run_dir: str | None = None,
        numerics: Numerics | None = PINNED,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["objective", "regularizers", "param", "transforms", "optimizer"])
        self.spec = backbone
        across_layers = is_layer_selection(units)
        if across_layers and objective is not None:
            raise ConfigError("With units per layer the objective of each layer comes from objective_kind "
                              f"({', '.join(OBJECTIVE_KINDS)}); drop objective.")
        check_objective_kind(objective_kind)
        if objective_kind != "auto" and not across_layers:
            raise ConfigError(f"objective_kind ({objective_kind!r}) applies to units per layer only; give units as "
                              "{layer: units} or set the objective itself.")
        ids = None if across_layers else parse_units(units)
        # units across layers get their ids after a dry run ("all" needs the channel counts): a stand-in until then
        self.schedule = UnitSchedule(ids or [0], batch_size, variants, epochs, steps_per_epoch)
        if save_outputs:
            check_writable(run_dir if run_dir is not None else out_dir)
        self.optimizer_factory: OptimizerFactory = optimizer or default_optimizer
        check_optimizer(self.optimizer_factory)
        loaded = load_backbone(backbone, weights=weights, checkpoint_class=checkpoint_class, mean=mean, std=std)
        if min_size is not None:
            loaded.min_size = int(min_size)
        size = size if isinstance(size, int) else tuple(size)
        try:  # every check that needs the model runs here, before a run folder exists
            chosen = select_layers(units, [n for n, _ in loaded.model.named_modules()]) if across_layers else []
            if chosen:
                objective = PerLayer([objective_for(objective_kind, layer) for layer, _ in chosen])
            self.renderer = Renderer(loaded, objective, regularizers or [], param, transforms, size,
                                     self.schedule.steps_per_unit, seed, input_size, channels_last, init_image)
            self.renderer.validate([] if chosen else self.schedule.units)
            if chosen:  # "all" needs the layers' unit counts, which the dry run of validate found
                keys = [(t, u) for t, (layer, selected) in enumerate(chosen)
                        for u in resolve_units(layer, selected, self.renderer.unit_count(t))]
                if len(keys) > MAX_UNITS:
                    raise UnitSpecError(f"The selection per layer names {len(keys):,} units; one run renders at most "
                                        f"{MAX_UNITS:,}: split it into several runs.")
                self.schedule = UnitSchedule([u for _, u in keys], batch_size, variants, epochs, steps_per_epoch,
                                             targets=[t for t, _ in keys])
                self.renderer.check_units(self.schedule.units, self.schedule.targets)
        finally:  # a user's own model comes back as it came; fit freezes it again
            if loaded.user_state is not None:
                loaded.user_state.restore(loaded.model)
        self.out_dir, self.run_name, self.save_outputs = out_dir, run_name, save_outputs
        self.continued_dir = Path(run_dir) if run_dir is not None else None
        self.requested = self.schedule.keys  # every unit asked for; the schedule drops those a continued folder has
        self.nothing_left = False  # a continued folder holds every unit already: the fit only writes the index
        self.numerics = numerics.check() if numerics is not None else None  # a ConfigError before a run folder exists
        self.hparams["numerics"] = numerics.describe() if numerics is not None else None  # plain values in checkpoints
        self.compile_options = (compile if isinstance(compile, dict) else {}) if compile else None
        self.writer: RunWriter | None = None
        self.group_index = -1
        self.batch_in_epoch = 0
        self.step_activations: torch.Tensor | None = None  # (N,) last step's activation per image
        self.last_finished: FinishedUnits | None = None
        self._group_finished = False
        self._replay_boundary = False  # resumed right after an epoch's last batch: see lit_actmax.lightning.epoch_replay

    # -- the contract callbacks read ---------------------------------------------------------------------
    @property
    def run_dir(self) -> Path | None:
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

    def reset_optimizer_state(self, params: Sequence[nn.Parameter] | None = None) -> None:
        """Forget the optimizer state (e.g. Adam moments) of the image parameters, after a reset or resize."""
        if self._trainer is None:
            return
        params = list(params) if params is not None else list(self.renderer.param.parameters())
        for optimizer in self.trainer.optimizers:
            for p in params:
                optimizer.state.pop(p, None)

    # -- set-up and checkpoints --------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        trainer = self.trainer
        check_trainer(trainer)
        if self.save_outputs and self.writer is None and self.continued_dir is not None:
            self._continue_run_dir(self.continued_dir.absolute())
        elif self.save_outputs and self.writer is None:
            path = new_run_dir(self.out_dir, run_name_of(self.spec, self.run_name)) if trainer.is_global_zero else None
            self._make_writer(Path(trainer.strategy.broadcast(str(path) if path else None, src=0)))
        self.schedule = self.schedule.for_rank(trainer.global_rank, trainer.world_size)
        trainer.fit_loop.max_epochs = 0 if self.nothing_left else self.schedule.total_epochs
        self.renderer.attach(self.compile_options)
        if not self.nothing_left:
            self._start_group(0, reset_optimizer=False)

    def _continue_run_dir(self, run_dir: Path) -> None:
        """Write into ``run_dir`` and render only the units it lacks. Global rank 0 checks the folder's settings (or
        records them, ``settings.json``) and lists its finished units; every rank gets the answer, so a refusal stops
        every process with the same sentence."""
        trainer = self.trainer
        self._make_writer(run_dir)
        answer: tuple[str | None, list[tuple[int, int]]] = (None, [])
        if trainer.is_global_zero:
            try:
                answer = (None, sorted(self._check_folder_settings(run_dir)))
            except ConfigError as error:
                answer = (str(error), [])
        error, done = trainer.strategy.broadcast(answer, src=0)
        if error:
            raise ConfigError(error)
        done_keys = {(int(t), int(u)) for t, u in done}
        self.nothing_left = all(key in done_keys for key in self.requested)
        if done_keys and not self.nothing_left:
            self.schedule = self.schedule.without(done_keys)
        left = len(self.requested) - len(done_keys & set(self.requested))
        rank_zero_info(f"Continuing {run_dir}: {len(self.requested) - left} of {len(self.requested)} units "
                       f"are rendered already, {left} to go.")

    def _check_folder_settings(self, run_dir: Path) -> set[tuple[int, int]]:
        """Compare this run's settings with ``run_dir/settings.json`` (write it when the folder has none) and return
        the folder's finished units; :class:`ConfigError` naming each difference when they differ."""
        assert self.writer is not None
        now = self._folder_settings()
        path = run_dir / SETTINGS_FILE
        if not path.is_file():
            if any(run_dir.glob("images/*/unit_*.json")):
                raise ConfigError(f"{run_dir} holds images but no {SETTINGS_FILE}, so their settings are unknown; "
                                  "continue only folders made with run_dir, or pick a new folder.")
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json(path, now)
            return set()
        differences = fingerprint_differences(read_json(path), now)
        if differences:
            raise ConfigError(f"The images in {run_dir} were made with other settings: "
                              f"{describe_differences(differences)}; use those settings or another run_dir.")
        return self.writer.done_keys()

    def _folder_settings(self) -> dict[str, Any]:
        """What must be equal for images of two runs to share a folder: the fingerprint without the units and the
        world size (neither changes a unit's image); with units across layers the objective is the kind per layer."""
        settings = {k: v for k, v in self._fingerprint().items() if k not in ("units", "world_size")}
        if isinstance(self.renderer.objective, PerLayer):
            settings["objective"] = f"per layer: {self.hparams.get('objective_kind', 'auto')}"
        return settings

    def _make_writer(self, run_dir: Path) -> None:
        renderer = self.renderer
        targets = [(renderer.target_layer(t), renderer.describe_target(t)) for t in range(renderer.num_targets)]
        self.writer = RunWriter(run_dir, targets[0][0], self.schedule.variants, targets[0][1], renderer.seed,
                                self.schedule.steps_per_unit, self.global_rank, renderer.backbone_info.class_names,
                                targets=targets)

    def teardown(self, stage: str) -> None:
        self.renderer.detach()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        drop_frozen(checkpoint.get("state_dict", {}))
        param = self.renderer.param
        checkpoint[CHECKPOINT_KEY] = RunState(
            self.spec, str(self.writer.run_dir.absolute()) if self.writer else None, self.group_index,
            list(param.size), param.count, self.schedule.batch_size, fingerprint=self._fingerprint(),
        ).to_dict()

    def _fingerprint(self) -> dict[str, Any]:
        """Everything that decides this run's images (``lit_actmax.run.checkpoint_state.fingerprint``)."""
        trainer, renderer = self._trainer, self.renderer
        return fingerprint(
            hparams=self.hparams, objective=renderer.objective, regularizers=list(renderer.regularizers),
            param=renderer.param, transforms=renderer.transforms, optimizer=self.optimizer_factory,
            units=self.unit_names(self.schedule), callbacks=image_callbacks(trainer.callbacks) if trainer is not None else [],
            world_size=trainer.world_size if trainer is not None else 1,
            precision=trainer.precision if trainer is not None else None,
        )

    def unit_names(self, schedule: UnitSchedule) -> list[int] | list[str]:
        """The units of ``schedule`` as settings name them: ids, or ``"<layer>:<id>"`` with units across layers."""
        return [self.renderer.unit_name(UnitImage(u, 0, True, t)) for t, u in schedule.keys]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.continued_dir is not None:
            raise ConfigError(f"A run with run_dir continues by running it again without a checkpoint (finished units "
                              f"in {self.continued_dir} are kept, the others are rendered); drop ckpt_path.")
        saved = RunState.from_checkpoint(checkpoint)
        try:  # a multi-process checkpoint restores only onto as many ranks, each getting its own shard
            check_world_size(checkpoint, self.trainer.world_size if self._trainer is not None else 1)
        except ShardError as error:
            raise ConfigError(str(error)) from None
        if saved is not None:
            self._verify_settings(saved)
        self._replay_boundary = skipped_epoch_boundary(checkpoint)
        state = checkpoint.setdefault("state_dict", {})
        rename_legacy_keys(state)
        restore_frozen(state, self.state_dict())
        if saved is None:
            match_parameter_shapes(self, state, "renderer.param.")
            return
        if saved.run_dir and self.save_outputs:
            self._adopt_run_dir(Path(saved.run_dir))
        started = self.group_index >= 0
        if saved.batch_size != self.schedule.batch_size and started:  # groups must be the checkpoint's groups
            rank_zero_warn(f"Resuming with the checkpoint's batch_size={saved.batch_size} (not {self.schedule.batch_size}).")
            self.schedule = self.schedule.with_batch_size(saved.batch_size)
            self.hparams["batch_size"] = saved.batch_size
            self.trainer.fit_loop.max_epochs = self.schedule.total_epochs
        if saved.group_index >= 0 and started:
            self._start_group(saved.group_index, size=saved.image_size, reset_optimizer=False)
        else:  # shapes must match the checkpoint before Lightning copies the tensors in
            match_parameter_shapes(self, state, "renderer.param.")

    def _verify_settings(self, saved: RunState) -> None:
        """Refuse, before anything is optimized, to resume with settings other than the checkpoint's: one sentence
        naming each differing setting with both values. Checkpoints without a fingerprint (earlier versions) are
        checked for the backbone only."""
        if saved.fingerprint is None:
            rank_zero_warn("This checkpoint has no settings fingerprint (an earlier lit_actmax made it), so only its "
                           "backbone can be verified: resume with the config it was made with.")
            differences = []
        else:
            differences = fingerprint_differences(saved.fingerprint, self._fingerprint())
        if saved.backbone != self.spec and not any(key == "backbone" for key, _, _ in differences):
            differences.insert(0, ("backbone", saved.backbone, self.spec))
        if not differences:
            return
        if self.writer is not None and self._trainer is not None and self.trainer.is_global_zero and (
                saved.run_dir is None or self.writer.run_dir.absolute() != Path(saved.run_dir).absolute()):
            remove_if_unused(self.writer.run_dir)  # the empty folder setup made for this refused run
        config = Path(saved.run_dir) / "config.yaml" if saved.run_dir else None
        where = f" ({config})" if config is not None and config.is_file() else ""
        raise ConfigError(f"This checkpoint was made with other settings: {describe_differences(differences)}; "
                          f"resume with the checkpoint's config{where} or start a new run.")

    def _adopt_run_dir(self, path: Path) -> None:
        """On resume: keep writing into the original run folder (checkpoints store it as an absolute path, so a
        resume from another working directory continues it) and drop the empty one made in setup."""
        current = self.writer.run_dir if self.writer is not None else None
        if current is not None and current.absolute() != path.absolute() and self.trainer.is_global_zero:
            remove_if_unused(current)
        self._make_writer(path)

    def configure_callbacks(self) -> list[pl.Callback]:
        return [RunCheckpoint(), RunGuard(), PinnedNumerics(self.numerics)]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.renderer.param.parameters())

    def train_dataloader(self) -> DataLoader:
        return DataLoader(StepIndices(self.schedule.steps_per_epoch), batch_size=None)

    # -- groups -----------------------------------------------------------------------------------------
    def _start_group(self, index: int, size: Sequence[int] | None = None, reset_optimizer: bool = True) -> None:
        self.group_index = index
        items = self.schedule.items_of(index)
        self.renderer.start(items, size)
        if reset_optimizer:
            self.reset_optimizer_state()
        self._group_finished = False
        for callback in self._actmax_callbacks():
            callback.on_units_started(self.trainer, self, items)

    def _actmax_callbacks(self) -> list[ActMaxCallback]:
        return [c for c in self.trainer.callbacks if isinstance(c, ActMaxCallback)] if self._trainer is not None else []

    def _sync_group(self) -> None:
        """Finish the current group and start the one the current epoch belongs to, if they differ."""
        group = self.schedule.group_of(self.current_epoch)
        if group != self.group_index:
            if not self._group_finished and self.group_index >= 0:
                self.finish_group()
            self._start_group(group)

    def on_train_start(self) -> None:
        if self._replay_boundary:  # resumed from an epoch's last batch: Lightning skips the epoch boundary hooks
            self._replay_boundary = False
            replay_epoch_boundary(self.trainer)

    def on_train_epoch_start(self) -> None:
        self._sync_group()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.batch_in_epoch = int(batch_idx)
        self._sync_group()  # the group follows the epoch even where Lightning skipped on_train_epoch_start

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """The renderer's loss at the step in the group; a non-finite image, activation or score raises
        :class:`~lit_actmax.errors.DivergenceError` naming the units (``Renderer.check_step``)."""
        self.batch_in_epoch = int(batch_idx)
        out = self.renderer.loss(self.step_in_group)
        self.step_activations = out.activations
        if self._step_is_shown(batch_idx):
            saved = self.renderer.saved_mask
            n = int(saved.sum())
            self.log("activation", out.activations[saved].float().mean(), prog_bar=True, batch_size=n)
            self.log("loss", out.loss.detach() / max(n, 1), batch_size=n)
        return out.loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Stop on a non-finite image gradient (``Renderer.check_gradients``; not under a 16-bit loss scaler, which
        skips those steps itself), and have the optimizer check the image parameters after every step it takes
        (``Renderer.check_parameters``), so a diverged image stops the run before a checkpoint or a file holds it."""
        if getattr(self.trainer.precision_plugin, "scaler", None) is None:
            self.renderer.check_gradients(self.step_in_group)
        if not getattr(optimizer, "_actmax_checks_parameters", False):  # once per optimizer
            renderer = self.renderer
            optimizer.register_step_post_hook(lambda *_: renderer.check_parameters(self.step_in_group))
            optimizer._actmax_checks_parameters = True  # type: ignore[attr-defined]

    def _step_is_shown(self, batch_idx: int) -> bool:
        """Whether this step's ``activation``/``loss`` reach anyone: a progress bar, a logger write (every
        ``log_every_n_steps``) or the end of an epoch (for callbacks that monitor them). ``self.log`` costs about
        0.5 ms per call, 1-2% of a CPU step, so steps nobody sees skip it; ``step_activations`` holds every step's."""
        if self._trainer is None:
            return True
        trainer = self.trainer
        logged = bool(trainer.loggers) and (self.global_step + 1) % max(1, trainer.log_every_n_steps) == 0
        return trainer.progress_bar_callback is not None or logged or batch_idx + 1 >= self.schedule.steps_per_epoch

    def finish_group(self) -> FinishedUnits:
        """Hand the finished group to callbacks, then write its PNGs and records."""
        images, activations = self.renderer.final_images()
        items = self.renderer.items
        steps = self.schedule.steps_per_unit  # every earlier group had all its steps: the rest are this group's
        steps_done = self.trainer.global_step - self.group_index * steps if self._trainer is not None else steps
        finished = FinishedUnits(
            units=[i.unit for i in items], variants=[i.variant for i in items],
            images=images, activations=activations, valid=[i.saved for i in items],
            targets=[i.target for i in items], steps_done=min(max(int(steps_done), 0), steps),
        )
        for callback in self._actmax_callbacks():
            callback.on_units_finished(self.trainer, self, finished)
        if self.writer is not None:
            self.writer.write_units(finished)
        self._group_finished = True
        self.last_finished = finished
        return finished

    def on_train_end(self) -> None:
        if not self._group_finished and self.group_index >= 0:
            self.finish_group()
        self.trainer.strategy.barrier("actmax_outputs")
        if self.writer is not None and self.trainer.is_global_zero:
            index = json.loads(self.write_index().read_text())
            run = self.writer.run_dir  # the end of the run says where everything is
            rendered = len({(r["layer"], r["unit"]) for r in index["units"]})
            folders = sorted({str(Path(r["image"]).parent) + "/" for r in index["units"]})
            files = [*folders, *index["grids"].values(), "index.json"]
            rank_zero_info(f"Rendered {rendered} unit{'s' * (rendered != 1)} into {run}: {', '.join(files)} "
                           f"(gallery: lit-actmax gallery {run})")

    def on_fit_end(self) -> None:
        if self.nothing_left and self.writer is not None and self.trainer.is_global_zero:
            path = self.write_index()  # a continued folder that had every unit: only the index is new
            rank_zero_info(f"Nothing left to render in {self.writer.run_dir}; wrote {path.name}.")

    def write_index(self) -> Path:
        """Write ``index.json`` and the per-layer grids from every rank's records (global rank 0)."""
        assert self.writer is not None
        renderer, schedule = self.renderer, self.schedule
        summary = RunSummary(
            backbone=self.spec, objective=renderer.objective.describe(),
            regularizers=[r.describe() for r in renderer.regularizers], layers=renderer.layers,
            param=type(renderer.param).__name__, size=list(renderer.size), steps_per_unit=schedule.steps_per_unit,
            seed=renderer.seed, world_size=schedule.world_size, config=jsonable(dict(self.hparams)),
        )
        entries: dict[str, Any] = {}
        for callback in self._actmax_callbacks():
            entries.update(callback.index_entries())
        wanted = {(self.renderer.target_layer(t), u, v) for t, u in self.requested for v in range(schedule.variants)}
        return self.writer.write_index(summary, wanted, tile=min(128, renderer.size[0]), entries=entries)

