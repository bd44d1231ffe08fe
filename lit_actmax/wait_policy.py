"""How OpenMP threads wait for work: ``OMP_WAIT_POLICY``, chosen before torch starts its OpenMP runtime.

OpenMP's default lets an idle thread spin for a while before it sleeps; on a machine where other processes want the
cores (CI runners, laptops, shared servers, two ranks on too few cores) the spinning threads take the cores those
processes need and every parallel region waits for a descheduled thread. Measured in issue 27 on 2 cores with one
other busy process: a lite0 step took 2.9x its idle time with spinning, 1.75x with ``PASSIVE`` (sleeping) threads,
which cost about 6% on the idle machine.

The runtime reads the variable once, when it starts (the first parallel region after ``import torch``), so it must
be set before that: the ``lit-actmax`` command does it first thing (:func:`choose_wait_policy`), and the ranks
Lightning starts inherit it. A variable the user set always wins. From Python, set it before importing torch::

    import os
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # or: from lit_actmax.wait_policy import choose_wait_policy
    import torch

``index.json`` records the policy in effect (``numerics.effective.omp_wait_policy``; None: OpenMP's default). This
module imports nothing heavy (no torch), so it can run first.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["DEFAULT_WAIT_POLICY", "WAIT_POLICY_VARIABLE", "choose_wait_policy"]

#: The environment variable OpenMP reads.
WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
#: What lit_actmax sets when the user set nothing: threads sleep instead of spinning while they wait.
DEFAULT_WAIT_POLICY = "PASSIVE"


def choose_wait_policy(policy: str = DEFAULT_WAIT_POLICY, warn: bool = True) -> str | None:
    """Set ``OMP_WAIT_POLICY`` to ``policy`` unless the environment has one (the user's wins); return the policy in
    effect (None: OpenMP's default). After torch is imported the runtime may have started already: then nothing is
    set, with a warning if ``warn``."""
    if WAIT_POLICY_VARIABLE in os.environ:
        return os.environ[WAIT_POLICY_VARIABLE]
    if "torch" in sys.modules:
        if warn:
            warnings.warn(f"{WAIT_POLICY_VARIABLE} was not set before torch was imported, so OpenMP keeps its default; "
                          f"set it before `import torch` (e.g. {WAIT_POLICY_VARIABLE}={policy} in the environment).",
                          stacklevel=2)
        return None
    os.environ[WAIT_POLICY_VARIABLE] = policy
    return policy
