"""The checkpoint hooks of :class:`~lit_actmax.lightning.module.ActMaxModule`: what a checkpoint holds beyond Lightning's
own state, and how a resume restores it.

A checkpoint holds the image parameters, never the backbone (dropped on save, put back from the rebuilt backbone on
load), and ``checkpoint["actmax"]``: a :class:`~lit_actmax.run.checkpoint_state.RunState` with the run's position,
its folder and its settings fingerprint. A resume first refuses other settings (one sentence naming each difference),
other process counts and continued folders, then adopts the original run folder and batch size and reshapes the image
parameters before Lightning copies them. The plain state-dict surgery and the fingerprint live in
:mod:`lit_actmax.run.checkpoint_state`; these functions are the module's side of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..callbacks.run_checkpoint import image_callbacks
from ..core.schedule import UnitImage, UnitSchedule
from ..errors import ConfigError, ShardError
from ..run.checkpoint_state import (
    CHECKPOINT_KEY,
    RunState,
    drop_frozen,
    fingerprint,
    match_parameter_shapes,
    rename_legacy_keys,
    restore_frozen,
    resume_differences,
    resume_refusal,
)
from ..run.files import remove_partial_writes
from ..run.folders import remove_if_unused
from ..run.storage import Location, location
from .checkpoint_shards import check_world_size
from .epoch_replay import skipped_epoch_boundary
from .groups import start_group
from .package import rank_zero_warn

if TYPE_CHECKING:
    from ..core.renderer import Renderer
    from .module import ActMaxModule

#: Fingerprint entries that come from the Trainer (left out of a module's fingerprint while it has none).
TRAINER_SETTINGS = ("callbacks", "world_size", "precision")

__all__ = ["adopt_run_dir", "load_run_state", "module_fingerprint", "save_run_state", "unit_names", "verify_settings"]


def module_fingerprint(module: ActMaxModule) -> dict[str, Any]:
    """Everything that decides the module's images (:func:`~lit_actmax.run.checkpoint_state.fingerprint`), with the
    Trainer's image-changing callbacks, world size and precision when it has a Trainer (without one, as in
    ``load_from_checkpoint``, those entries are left out and so not compared)."""
    trainer, renderer = module.attached_trainer, module.renderer
    settings = fingerprint(
        hparams=module.hparams, objective=renderer.objective, regularizers=list(renderer.regularizers),
        param=renderer.param, transforms=renderer.transforms, optimizer=module.optimizer_factory,
        units=unit_names(module.renderer, module.schedule), callbacks=image_callbacks(trainer.callbacks) if trainer else [],
        world_size=trainer.world_size if trainer is not None else 1,
        precision=trainer.precision if trainer is not None else None,
    )
    if trainer is None:  # load_from_checkpoint: no Trainer yet, so none of its settings to compare
        for key in TRAINER_SETTINGS:
            settings.pop(key)
    return settings


def unit_names(renderer: Renderer, schedule: UnitSchedule) -> list[int | str]:
    """The units of ``schedule`` as settings name them: ids, or ``"<layer>:<id>"`` with units across layers."""
    return [renderer.unit_name(UnitImage(u, 0, True, t)) for t, u in schedule.keys]


def save_run_state(module: ActMaxModule, checkpoint: dict[str, Any]) -> None:
    """Drop the frozen backbone from ``checkpoint`` and add the run's :class:`RunState`."""
    drop_frozen(checkpoint.get("state_dict", {}))
    param = module.renderer.param
    checkpoint[CHECKPOINT_KEY] = RunState(
        module.spec, str(module.writer.run_dir.absolute()) if module.writer else None, module.group_index,
        list(param.size), param.count, module.schedule.batch_size, fingerprint=module_fingerprint(module),
    ).to_dict()


def load_run_state(module: ActMaxModule, checkpoint: dict[str, Any]) -> None:
    """Check ``checkpoint`` against the live run (settings, process count, continued folder) before anything is
    restored, then put the backbone back into its state dict and give the module the checkpoint's run folder, batch
    size, group and image shapes."""
    trainer = module.attached_trainer
    if module.continued_dir is not None:
        raise ConfigError(f"A run with run_dir continues by running it again without a checkpoint (finished units "
                          f"in {module.continued_dir} are kept, the others are rendered); drop ckpt_path.")
    saved = RunState.from_checkpoint(checkpoint)
    try:  # a multi-process checkpoint restores only onto as many ranks, each getting its own shard
        check_world_size(checkpoint, trainer.world_size if trainer is not None else 1)
    except ShardError as error:
        raise ConfigError(str(error)) from None
    if saved is not None:
        verify_settings(module, saved)
    module.replay_boundary = skipped_epoch_boundary(checkpoint)
    state = checkpoint.setdefault("state_dict", {})
    rename_legacy_keys(state)
    restore_frozen(state, module.state_dict())
    if saved is None:
        match_parameter_shapes(module, state, "renderer.param.")
        return
    if saved.run_dir and module.save_outputs and trainer is not None:  # a resume; load_from_checkpoint starts anew
        adopt_run_dir(module, location(saved.run_dir))
    started = module.group_index >= 0
    if saved.batch_size != module.schedule.batch_size and started:  # groups must be the checkpoint's groups
        rank_zero_warn(f"Resuming with the checkpoint's batch_size={saved.batch_size} (not {module.schedule.batch_size}).")
        module.schedule = module.schedule.with_batch_size(saved.batch_size)
        module.hparams["batch_size"] = saved.batch_size
        module.trainer.fit_loop.max_epochs = module.schedule.total_epochs
    if saved.group_index >= 0 and started:
        start_group(module, saved.group_index, size=saved.image_size, reset_optimizer=False)
    else:  # shapes must match the checkpoint before Lightning copies the tensors in
        match_parameter_shapes(module, state, "renderer.param.")


def verify_settings(module: ActMaxModule, saved: RunState) -> None:
    """Refuse, before anything is optimized, to resume with settings other than the checkpoint's; the empty run
    folder ``setup`` made for the refused run is removed. Checkpoints without a fingerprint (earlier versions) are
    checked for the backbone only, with a warning."""
    if saved.fingerprint is None:
        rank_zero_warn("This checkpoint has no settings fingerprint (an earlier lit_actmax made it), so only its "
                       "backbone can be verified: resume with the config it was made with.")
    differences = resume_differences(saved, module_fingerprint(module), module.spec)
    if not differences:
        return
    trainer = module.attached_trainer
    if module.writer is not None and trainer is not None and trainer.is_global_zero and (
            saved.run_dir is None or module.writer.run_dir.absolute() != location(saved.run_dir).absolute()):
        remove_if_unused(module.writer.run_dir)
    raise ConfigError(resume_refusal(saved, differences))


def adopt_run_dir(module: ActMaxModule, path: Location) -> None:
    """On resume: keep writing into the original run folder (checkpoints store it as an absolute path, so a resume
    from another working directory continues it) and drop the empty one made in setup."""
    current = module.writer.run_dir if module.writer is not None else None
    if current is not None and current.absolute() != path.absolute() and module.trainer.is_global_zero:
        remove_if_unused(current)
    if module.trainer.is_global_zero and path.is_dir():
        remove_partial_writes(path)  # a process killed mid-write leaves its temporary file
    module.make_writer(path)
