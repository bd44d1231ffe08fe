"""``FeatureVisualization``: watch what a model learns while it trains, in the user's own Trainer.

Added to the Trainer that trains *your* LightningModule, it renders chosen units of the model being trained (class
logits, channels of named layers, units across layers, directions) every ``every_n_epochs`` epochs, every
``every_n_steps`` optimizer steps, after validation, and once before the first step, always with the same settings
and seeds, so one unit's pictures across training differ only by the weights. Rendering never changes the training:
the plain :class:`~lit_actmax.core.live_renderer.LiveRenderer` freezes and hooks the model only for the render and
gives back its ``requires_grad``, train/eval modes, gradients and every random stream (torch, CUDA, numpy, Python);
the model runs in eval mode (BatchNorm statistics untouched) under fp32 whatever the autocast context, and its
parameters never receive a gradient; the DataLoader is never touched. Training with and without it ends with the same
weights, optimizer and scheduler state, BatchNorm statistics and random streams, bit for bit on CPU (tested).

The pictures go into every logger of the Trainer (TensorBoard, W&B, MLflow: a grid per layer captioned by unit, at
the training step, with the render's seconds and each unit's activation as scalars; CSV and no logger: a PNG contact
sheet) and into a folder beside the logs (``<log_dir>/feature_visualization``, :mod:`lit_actmax.run.evolution`): per
unit its frames, a strip and an animation, records, ``index.json`` and the atlas site with an "over training" view on
each unit page. Under DDP the units are split across ranks; each renders its share with the unwrapped module (no DDP
hook fires, no collective inside the render), one gather brings the images to global rank 0, which writes and logs.
Strategies that shard parameters (FSDP, DeepSpeed, model parallel) are refused at setup with one sentence. A
mistake in the settings (a layer that does not exist, a unit out of range) is one sentence at setup, before the
first epoch; a render that fails later is reported once and training goes on.

``lit-actmax evolve`` renders the same units from a run's checkpoints afterwards (:mod:`lit_actmax.cli.evolve`).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Sequence

from torch import nn
from typing_extensions import override

from ..augment import Transform
from ..core.live_renderer import LiveRenderer, ModelChoice, Rendering, resolve_model
from ..core.numerics import PINNED, Numerics
from ..core.optim import OptimizerFactory
from ..core.unit_request import UnitSelection
from ..errors import ConfigError
from ..lightning.gather import gather_rows
from ..lightning.package import pl, rank_zero_info
from ..objectives.base import Objective
from ..params import ImageParam
from ..run.evolution import EVOLUTION_FILE, EvolutionWriter
from ..run.files import safe_name
from ..run.storage import Location, location
from .logger_images import log_image_grid, thumbnails

__all__ = ["FeatureVisualization", "SHARDING_STRATEGIES"]

#: Strategies whose processes each hold a shard of the parameters: a process cannot render the whole model.
SHARDING_STRATEGIES = ("FSDPStrategy", "DeepSpeedStrategy", "ModelParallelStrategy")


class FeatureVisualization(pl.Callback):
    """Render ``units`` of the model being trained, without changing the training (see the module docstring).

    Args:
        units, objective, objective_kind: what to render, as ``ActMaxModule`` takes them (default objective: the
            model's output, ``ClassLogit()``; with units per layer, ``{"features.6": "0-7", "output": "all"}``,
            each layer's objective comes from ``objective_kind``).
        model: the vision model inside the LightningModule: a dotted attribute name (``"net"``), a callable taking the
            module, or None for the module itself (its ``forward`` takes images).
        preprocess: images (B, 3, H, W) in [0, 1] -> the model's input (default: ImageNet mean/std).
        class_names: labels of the output units (captions, records).
        every_n_epochs: render after every k-th training epoch (None or 0: never at epoch ends).
        every_n_steps: render after every k-th optimizer step (None: never by steps).
        on_validation: render after each validation run (not the sanity check).
        at_start: render once before the first training step (the untrained model).
        size, steps, batch_size, variants, seed: image side, optimizer steps per image and render, images rendered
            together, images per unit, base seed; what a render costs is ``units x steps`` forward/backward passes.
        param, transforms, regularizers, optimizer: the method (defaults: the library's default).
        numerics: the numerics a render runs with, restored after it (None: the training's own).
        dirpath: the folder of the renders (default ``<trainer.log_dir>/feature_visualization``); local or an fsspec
            URL (``s3://bucket/watch``, :mod:`lit_actmax.run.storage`).
        log_size: longer side of each image logged to the loggers.
        site: write the atlas site of the folder after each render.
    """

    def __init__(
        self, units: UnitSelection, objective: Objective | None = None, objective_kind: str = "auto",
        model: ModelChoice = None, preprocess: nn.Module | None = None, class_names: Sequence[str] | None = None,
        every_n_epochs: int | None = 1, every_n_steps: int | None = None, on_validation: bool = False,
        at_start: bool = True, size: int = 64, steps: int = 64, batch_size: int = 8, variants: int = 1, seed: int = 0,
        param: ImageParam | None = None, transforms: Transform | None = None, regularizers: Sequence[Objective] = (),
        optimizer: OptimizerFactory | None = None, numerics: Numerics | None = PINNED, dirpath: str | None = None,
        log_size: int = 128, site: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("every_n_epochs", every_n_epochs), ("every_n_steps", every_n_steps)):
            if value is not None and (isinstance(value, bool) or int(value) < 0):
                raise ConfigError(f"{name} must be a whole number of at least 0 (or None), not {value!r}.")
        if int(log_size) < 1:
            raise ConfigError(f"log_size must be at least 1 pixel, not {log_size!r}.")
        self.live = LiveRenderer(units, objective, objective_kind, model, preprocess, class_names, size, steps,
                                 batch_size, variants, seed, param, transforms, regularizers, optimizer, numerics)
        self.every_n_epochs, self.every_n_steps = int(every_n_epochs or 0), int(every_n_steps or 0)
        self.on_validation, self.at_start = bool(on_validation), bool(at_start)
        if dirpath is not None:
            location(dirpath, "dirpath")  # an unknown protocol or a missing filesystem package: one sentence now
        self.dirpath, self.log_size, self.site = dirpath, int(log_size), bool(site)
        self.run_dir: Location | None = None
        self.writer: EvolutionWriter | None = None
        self.rendered_steps: list[int] = []  # the same on every rank: whether a step is rendered is decided alike
        self.failures = 0
        self._restored: dict[str, Any] | None = None

    # -- set-up -------------------------------------------------------------------------------------------
    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        strategy = type(trainer.strategy)
        refused = [getattr(pl.strategies, name, None) for name in SHARDING_STRATEGIES]
        if any(cls is not None and issubclass(strategy, cls) for cls in refused):
            raise ConfigError(f"FeatureVisualization renders the whole model on every process, but {strategy.__name__} "
                              "shards its parameters across processes; watch the training under DDP or on one device, "
                              "or render its checkpoints afterwards with lit-actmax evolve.")
        self.live.bind(pl_module, self.model_name(pl_module))

    def model_name(self, pl_module: nn.Module) -> str:
        """How records name the rendered model: ``Classifier`` or ``Classifier.net``."""
        choice = self.live.model_choice
        return type(pl_module).__name__ + (f".{choice}" if isinstance(choice, str) and choice else "")

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        restored = self._restored or {}
        log_dir = trainer.log_dir  # a collective under DDP: every rank asks
        run_dir = location(restored.get("dirpath") or self.dirpath or location(log_dir or trainer.default_root_dir)
                           / "feature_visualization", "dirpath").absolute()
        problem = ""
        if trainer.is_global_zero:
            try:
                if not restored and (run_dir / EVOLUTION_FILE).is_file():
                    raise ConfigError(f"{run_dir} holds the renders of another training run; give FeatureVisualization "
                                      "another dirpath (or resume that run with its checkpoint).")
                self.writer = EvolutionWriter(run_dir, self.live, history=restored.get("history"))
            except ConfigError as error:
                problem = str(error)
        problem = trainer.strategy.broadcast(problem, src=0)
        if problem:
            raise ConfigError(problem)
        self.run_dir = run_dir

    # -- when to render -----------------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.at_start and trainer.global_step == 0:
            self.render(trainer, pl_module, "start")

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self.render(trainer, pl_module, "step")

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.render(trainer, pl_module, "epoch end")

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_validation and not trainer.sanity_checking and trainer.state.fn == "fit":
            self.render(trainer, pl_module, "validation")

    # -- a render -----------------------------------------------------------------------------------------
    def render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, trigger: str) -> None:
        """Render on every rank (each its share of the units), gather once, write and log on global rank 0. Called
        by every rank at the same step; a failure is reported once per process and the training goes on."""
        step = int(trainer.global_step)
        if step in self.rendered_steps or self.live.renderer is None:
            return
        self.rendered_steps.append(step)
        start = time.perf_counter()
        try:
            if self.live.model is not resolve_model(pl_module, self.live.model_choice):  # a strategy swapped it
                self.live.bind(pl_module, self.model_name(pl_module))
            rendering = self.live.render(trainer.global_rank, trainer.world_size)
        except Exception as error:  # noqa: BLE001 - a failed render must not end the user's training
            self.report(error, step)
            rendering = Rendering.empty(self.live.renderer.size)
        device = pl_module.device
        h, w = rendering.images.shape[-2:]
        keys, images, activations = gather_rows(trainer.strategy, rendering.keys.to(device),
                                                rendering.images.flatten(1).to(device), rendering.activations.to(device))
        if not trainer.is_global_zero or self.writer is None:
            return
        gathered = Rendering(keys.cpu(), images.cpu().view(-1, 3, h, w), activations.cpu(), time.perf_counter() - start)
        try:
            if len(gathered.keys):
                self.writer.add(gathered, step, trainer.current_epoch, trigger)
                self.log_rendering(trainer, gathered, step)
                if self.site:
                    from ..html.site import build_site

                    build_site(self.writer.run_dir)
        except Exception as error:  # noqa: BLE001 - neither may a full disk or a logger's hiccup
            self.report(error, step)

    def report(self, error: BaseException, step: int) -> None:
        """Warn about the first failed render of this process (later ones are only counted)."""
        self.failures += 1
        if self.failures == 1:
            first = (str(error).strip().splitlines() or [""])[0][:300]
            warnings.warn(f"FeatureVisualization: the render at step {step} failed ({type(error).__name__}: {first}); "
                          "the training goes on without it, and later failures are only counted (`failures`).",
                          RuntimeWarning, stacklevel=2)

    def log_rendering(self, trainer: pl.Trainer, rendering: Rendering, step: int) -> None:
        """Log the images (a grid per layer, captioned by unit), each unit's activation and the render's seconds to
        every logger (none without loggers: the folder has the images)."""
        if not trainer.loggers:
            return
        writer = self.writer.writer
        names = self.live.class_names
        metrics: dict[str, float] = {"feature_visualization/seconds": float(rendering.seconds)}
        for target in sorted(set(rendering.keys[:, 2].tolist())):
            layer = writer.targets[target][0]
            rows = [i for i, key in enumerate(rendering.keys.tolist()) if key[2] == target]
            rows.sort(key=lambda i: rendering.keys[i, :2].tolist())
            captions = []
            for i in rows:
                unit, variant = int(rendering.keys[i, 0]), int(rendering.keys[i, 1])
                label = f" {names[unit]}" if names and layer == "output" and unit < len(names) else ""
                captions.append(f"{unit}{f' v{variant}' if self.live.schedule.variants > 1 else ''}{label}")
                metrics[f"feature_visualization/{safe_name(layer)}/unit_{unit:05d}"
                        + (f"_v{variant}" if self.live.schedule.variants > 1 else "")] = float(rendering.activations[i])
            log_image_grid(trainer, f"feature_visualization/{safe_name(layer)}",
                           thumbnails(rendering.images[rows], self.log_size), captions, step)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.writer is not None and self.writer.steps:
            site = " (site: site/index.html)" if self.site else ""
            rank_zero_info(f"FeatureVisualization: {len(self.writer.steps)} renders in {self.writer.run_dir}{site}"
                           + (f"; {self.failures} failed" if self.failures else "") + ".")

    # -- resume -------------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"dirpath": str(self.run_dir) if self.run_dir is not None else None,
                "history": self.writer.history if self.writer is not None else None,
                "rendered_steps": list(self.rendered_steps), "failures": self.failures}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = dict(state_dict)
        self.rendered_steps = [int(s) for s in state_dict.get("rendered_steps", [])]
        self.failures = int(state_dict.get("failures", 0))
