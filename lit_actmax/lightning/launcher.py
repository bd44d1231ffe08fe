"""``WatchedScriptLauncher``: Lightning's launcher of one script per device, with lit_actmax watching the children.

Lightning's own launcher (``strategy="ddp"``'s, re-running the command once per extra device) starts a thread that
kills every process, itself included, with SIGKILL within 5 seconds of a child ending with a non-zero code. For
lit_actmax that is the wrong ending: a child stopped by SIGTERM exits with
:data:`~lit_actmax.exits.EXIT_PREEMPTED` on purpose, and a child that failed has told its sentence to every rank
(:mod:`lit_actmax.lightning.rank_sync`), so rank 0 must finish writing and saying it instead of dying with exit code
137. This launcher starts the children the same way but without that thread; rank 0 notices a child that ended at
its next step instead (``RankSync(children=launcher.procs)``), and when Lightning asks it to kill the children after
a Ctrl-C it first gives them a moment to stop by themselves at the step every rank agreed on.
"""

from __future__ import annotations

import importlib
import signal
import subprocess
from typing import Any, Callable

from .package import pl

__all__ = ["WatchedScriptLauncher", "CHILD_GRACE_S"]

#: Seconds Lightning's kill after a Ctrl-C waits for the children to end by themselves.
CHILD_GRACE_S = 30.0

_LIGHTNING_LAUNCHER = importlib.import_module(f"{pl.__name__}.strategies.launchers.subprocess_script")


class WatchedScriptLauncher(_LIGHTNING_LAUNCHER._SubprocessScriptLauncher):
    """Lightning's ``_SubprocessScriptLauncher`` without its child-process observer (see the module docstring)."""

    def launch(self, function: Callable, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        """Start the other processes of this node (unless a cluster started them), then call ``function``."""
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
        _LIGHTNING_LAUNCHER._set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)

    def kill(self, signum: Any) -> None:
        """Send ``signum`` to the children; a SIGKILL only to those that did not end within :data:`CHILD_GRACE_S`."""
        if signum == getattr(signal, "SIGKILL", None):
            for process in self.procs:
                try:
                    process.wait(timeout=CHILD_GRACE_S)
                except subprocess.TimeoutExpired:
                    pass
        super().kill(signum)
