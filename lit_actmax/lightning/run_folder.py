"""Where an :class:`~lit_actmax.lightning.module.ActMaxModule` writes: its run folder, made in ``setup`` on global rank
0 and broadcast, a continued folder (``run_dir``) checked against its ``settings.json`` with the finished units dropped
from the schedule, or on resume the checkpoint's folder. The plain parts live in :mod:`lit_actmax.run.folders` and
:mod:`lit_actmax.run.continued`; these functions do the Lightning side (ranks, broadcast, messages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..run.continued import check_folder, folder_settings
from ..run.folders import new_run_dir, run_name_of
from ..run.storage import Location, location
from .module_checkpoint import module_fingerprint
from .package import rank_zero_info

if TYPE_CHECKING:
    from .module import ActMaxModule

__all__ = ["continue_run_dir", "open_run_folder"]


def open_run_folder(module: ActMaxModule) -> None:
    """Give ``module`` its writer (in ``setup``): into its continued folder, or into a new ``version_<k>`` folder made
    by global rank 0 and broadcast to every rank. Nothing when it saves nothing or has a writer already."""
    if not module.save_outputs or module.writer is not None:
        return
    if module.continued_dir is not None:
        continue_run_dir(module, module.continued_dir.absolute())
        return
    trainer = module.trainer
    path = new_run_dir(module.out_dir, run_name_of(module.spec, module.run_name)) if trainer.is_global_zero else None
    module.make_writer(location(trainer.strategy.broadcast(str(path) if path else None, src=0)))


def continue_run_dir(module: ActMaxModule, run_dir: Location) -> None:
    """Write into ``run_dir`` and render only the units it lacks: global rank 0 checks the folder
    (:func:`~lit_actmax.run.continued.check_folder`) and every rank gets its answer, so a refusal stops every process
    with the same sentence; a folder with every unit only gets its index rewritten (``module.nothing_left``)."""
    trainer = module.trainer
    module.make_writer(run_dir)
    answer: tuple[str | None, list[tuple[int, int]], str | None] = (None, [], None)
    if trainer.is_global_zero:
        settings = folder_settings(module_fingerprint(module), module.renderer.across_layers,
                                   module.hparams.get("objective_kind", "auto"))
        try:
            state = check_folder(module.writer, settings)
            answer = (None, sorted(state.done), state.damage_line(module.writer))
        except ConfigError as error:
            answer = (str(error), [], None)
    error, done, damaged = trainer.strategy.broadcast(answer, src=0)
    if error:
        raise ConfigError(error)
    if damaged:
        rank_zero_info(damaged)
    done_keys = {(int(t), int(u)) for t, u in done}
    module.nothing_left = all(key in done_keys for key in module.requested)
    if done_keys and not module.nothing_left:
        module.schedule = module.schedule.without(done_keys)
    left = len(module.requested) - len(done_keys & set(module.requested))
    rank_zero_info(f"Continuing {run_dir}: {len(module.requested) - left} of {len(module.requested)} units are rendered "
                   f"already, {left} to go.")
