"""``UnitParallelStrategy``: one process per device (and node), each rendering its own units; no gradient sync.

Stock DDP is wrong for activation maximization: it broadcasts rank 0's parameters at start and averages
gradients across ranks, so images of different units would be mixed. This strategy is Lightning's
``DDPStrategy`` (launchers, cluster environments for torchrun and SLURM, process groups, ``all_gather``,
``barrier``, ``sync_dist`` logging) with the DDP wrapper left out: the LightningModule is never wrapped, no
parameter is ever broadcast and no gradient is communicated. The backbone must be identical on every rank by
construction (pretrained weights or a fixed seed).

Checkpoints: every rank's checkpoint dict (its images, optimizer state, callback state) is gathered into the one
file that global rank 0 writes, and each rank gets its own back on resume (see :mod:`lit_actmax.lightning.checkpoint_shards`).

Registered in Lightning's ``StrategyRegistry`` on import of ``lit_actmax``::

    trainer:
      accelerator: gpu
      devices: 8
      num_nodes: 4
      strategy: unit_parallel          # or unit_parallel_spawn (notebooks; picklable modules only)
"""

from __future__ import annotations

import atexit
import os
from typing import Any, Iterable, Optional

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError
from .checkpoint_shards import merge_shards, select_shard, to_cpu
from .launcher import WatchedScriptLauncher
from .package import DDPStrategy, StrategyRegistry, TrainerFn, move_data_to_device, pl
from .rank_sync import RankSync

__all__ = [
    "UnitParallelStrategy", "STRATEGY_NAME", "check_trainer", "destroy_process_group_at_exit", "optimizers_to_device",
]

STRATEGY_NAME = "unit_parallel"


class UnitParallelStrategy(DDPStrategy):
    """DDP's process management without DDP: each rank optimizes its own images, nothing is averaged.

    Accepts the arguments of ``DDPStrategy`` (``process_group_backend``, ``timeout``, ``start_method``, ...);
    arguments that configure the DDP wrapper (``find_unused_parameters``, ``static_graph``, comm hooks, model
    averaging) are refused, since there is no wrapper. ``lost_after``: seconds without a sign of life after which
    another rank counts as lost and every rank stops (:mod:`lit_actmax.lightning.rank_sync`, ``rank_sync``).
    """

    strategy_name = STRATEGY_NAME

    def __init__(self, *args: Any, lost_after: float = 60.0, **kwargs: Any) -> None:
        # a YAML class_path fills in DDP's defaults (False, None): only a value that asks for something is refused
        wrapper_options = sorted(k for k in kwargs if k in _DDP_WRAPPER_OPTIONS and kwargs[k] not in (None, False))
        if wrapper_options:
            raise ConfigError(
                f"UnitParallelStrategy never wraps the module in DDP, so {', '.join(wrapper_options)} has no effect; remove it."
            )
        super().__init__(*args, **kwargs)
        self.lost_after = float(lost_after)
        self.rank_sync = RankSync.single()  # the ranks' stop and failure protocol, opened with the process group

    # -- no DDP wrapper, no broadcast of module states ---------------------------------------------------
    def setup(self, trainer: Any) -> None:
        """Move the module to its device and set up optimizers and precision; never wrap, never broadcast."""
        assert self.accelerator is not None and self.model is not None
        self.accelerator.setup(trainer)
        if trainer.state.fn == TrainerFn.FITTING and self._layer_sync:
            self.model = self._layer_sync.apply(self.model)
        self.precision_plugin.convert_module(self.model)
        self.model_to_device()
        if trainer.state.fn == TrainerFn.FITTING:
            self.configure_ddp()
            self.setup_optimizers(trainer)
        self.setup_precision_plugin()
        if trainer.state.fn == TrainerFn.FITTING:
            optimizers_to_device(self.optimizers, self.root_device)

    def configure_ddp(self) -> None:
        """Keep the LightningModule as the strategy's model: no gradient is ever all-reduced."""

    def _setup_model(self, model: nn.Module) -> nn.Module:  # type: ignore[override]
        return model

    def setup_distributed(self) -> None:
        """Lightning's process group set-up, plus its orderly destruction when the interpreter exits, and the ranks'
        stop and failure protocol over its store."""
        super().setup_distributed()
        destroy_process_group_at_exit()
        self.rank_sync.close()  # the previous fit's, should its end not have closed it
        self.rank_sync = RankSync.single()
        if self.world_size > 1 and dist.is_available() and dist.is_initialized() and self._fitting():
            launcher = self.launcher
            children = launcher.procs if isinstance(launcher, WatchedScriptLauncher) else []
            self.rank_sync = RankSync.open(self.global_rank, self.world_size, self.lost_after, children,
                                           first_child_rank=self.node_rank * self.num_processes + 1)

    def _fitting(self) -> bool:
        """Whether the Trainer is fitting (predicting, e.g. dataset examples, needs no stop protocol)."""
        try:
            return self.lightning_module.trainer.state.fn == TrainerFn.FITTING  # type: ignore[union-attr]
        except (AttributeError, RuntimeError):  # no module, or one not attached to a Trainer
            return False

    def _configure_launcher(self) -> None:
        """Lightning's launcher of one script per device, without its observer that SIGKILLs every process when one
        ends with a non-zero code (:mod:`lit_actmax.lightning.launcher`)."""
        super()._configure_launcher()
        if self._start_method == "popen":
            self._launcher = WatchedScriptLauncher(self.cluster_environment, self.num_processes, self.num_nodes)

    # -- checkpoints: one file, one shard per rank -------------------------------------------------------
    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: str | os.PathLike, storage_options: Optional[Any] = None
    ) -> None:
        """Gather every rank's checkpoint dict (on the CPU) to global rank 0, which writes them as one file.

        Called on all ranks (``Trainer.save_checkpoint`` is collective), so the gather cannot deadlock.
        """
        own = to_cpu(checkpoint)
        if self.world_size > 1 and dist.is_available() and dist.is_initialized():
            gathered: list[Any] | None = [None] * self.world_size if self.is_global_zero else None
            dist.gather_object(own, gathered, dst=0)
            shards = gathered or []
        else:
            shards = [own]
        if self.is_global_zero:
            self.checkpoint_io.save_checkpoint(merge_shards(shards), filepath, storage_options=storage_options)

    def load_checkpoint(self, checkpoint_path: str | os.PathLike, weights_only: Optional[bool] = None) -> dict[str, Any]:
        """Read the file and return this rank's own shard (refuses a checkpoint of another world size)."""
        checkpoint = super().load_checkpoint(checkpoint_path, weights_only=weights_only)
        return select_shard(checkpoint, self.global_rank, self.world_size)

    @classmethod
    def register_strategies(cls, strategy_registry: Any) -> None:
        for name, start_method in ((STRATEGY_NAME, "popen"), (f"{STRATEGY_NAME}_spawn", "spawn")):
            if name not in strategy_registry:
                strategy_registry.register(
                    name, cls, description=f"one process per device rendering its own units ({start_method})",
                    start_method=start_method,
                )


_DDP_WRAPPER_OPTIONS = {
    "find_unused_parameters", "static_graph", "gradient_as_bucket_view", "bucket_cap_mb", "broadcast_buffers",
    "ddp_comm_state", "ddp_comm_hook", "ddp_comm_wrapper", "model_averaging_period",
}

UnitParallelStrategy.register_strategies(StrategyRegistry)


def destroy_process_group_at_exit() -> None:
    """Destroy the default process group at interpreter exit, while Python is still whole (registered once).

    Lightning leaves the group alive for a later ``Trainer`` call. Left to the interpreter's finalization, gloo's
    worker threads can still hold tensors whose release needs the GIL of a half torn-down interpreter, and the
    process ends in ``terminate called without an active exception`` (SIGABRT) after a run that succeeded.
    """
    global _EXIT_HANDLER_REGISTERED
    if not _EXIT_HANDLER_REGISTERED:
        atexit.register(_destroy_default_group)
        _EXIT_HANDLER_REGISTERED = True


_EXIT_HANDLER_REGISTERED = False


def _destroy_default_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def check_trainer(trainer: pl.Trainer) -> None:
    """Refuse Trainer settings that would couple the images of different units."""
    if trainer.gradient_clip_val:
        raise ConfigError(
            "Trainer(gradient_clip_val=...) clips the norm of all images' gradients together, which couples "
            "units; remove it (clip per unit with lit_actmax.callbacks.PerUnitGradNorm instead)."
        )
    if trainer.world_size > 1 and not isinstance(trainer.strategy, UnitParallelStrategy):
        raise ConfigError(
            f"{trainer.world_size} processes need strategy='unit_parallel': {type(trainer.strategy).__name__} "
            "would sync image parameters and gradients across ranks and mix different units' images."
        )


def optimizers_to_device(optimizers: Iterable[torch.optim.Optimizer], device: torch.device) -> None:
    """Move the optimizers' state tensors to ``device``, in place (``step`` counters stay where they are, as torch
    wants them)."""
    for optimizer in optimizers:
        for state in optimizer.state.values():
            for key, value in state.items():
                if key != "step":
                    state[key] = move_data_to_device(value, device)
