"""``Numerics``: the process settings that decide the floating-point result of a step, pinned by the run's config.

A unit's image is a long chain of optimizer steps; any change in the order a kernel sums its terms changes the
last bits of one step and, through the chain, the picture. Four process-wide settings choose those orders:

- the intra-op thread count: CPU kernels pick their code path by thread count (at 1 thread torch runs 1x1
  convolutions of fewer than 16 images through ``slow_conv2d`` instead of oneDNN), and an element-wise kernel splits
  a tensor into one chunk per thread, computing each chunk's last partial vector with scalar code (``sigmoid``'s
  differs in the last bit), so the count changes results unless every chunk ends on a whole vector. Measured
  (issue 27, AVX-512, and AVX2 forced): 2 and 4 threads give the same images on lite0 and the tiny test backbone,
  for batches of 1 to 8 images at 32-224 px; 3 does on lite0 only; 1, 5, 6 and 8 do not
  (:data:`REPRODUCIBLE_THREADS`). Lightning gives each of N processes ``cores / N`` threads, so the count is pinned:
  ``"auto"`` is the largest reproducible count the process's share of cores allows (:func:`auto_threads`);
- deterministic algorithms (``torch.use_deterministic_algorithms``, cuDNN ``deterministic`` and no
  ``benchmark``, which times kernels and may pick another one per run), without torch's debugging fill of every new
  tensor with NaN (``torch.utils.deterministic.fill_uninitialized_memory``, which deterministic mode turns on: it
  cost a quarter of the default step on a CPU, and no kernel of a step reads memory it did not write, so the images
  are the same with and without it);
- float32 matmul/convolution precision: TF32 on NVIDIA GPUs (cuDNN allows it for convolutions by default);
- ``CUBLAS_WORKSPACE_CONFIG``, which deterministic cuBLAS needs (read when cuBLAS starts: pin before the first
  GPU matmul).

``Numerics.apply()`` sets them and returns a :class:`NumericsState` whose ``restore()`` gives the previous values
back; ``with numerics.pinned():`` does both around a block (a plain loop). ``describe()`` is the config as JSON,
:func:`current_numerics` what is in effect. Plain torch: the Lightning side applies it per process in
:class:`~lit_actmax.callbacks.PinnedNumerics`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import torch

from ..errors import ConfigError

__all__ = ["MATMUL_PRECISIONS", "CUBLAS_WORKSPACE", "PINNED", "REPRODUCIBLE_THREADS", "Numerics", "NumericsState",
           "auto_threads", "available_cores", "current_numerics", "same_images_numerics"]

#: Intra-op thread counts measured to give the same images as each other (lite0 and the tiny test backbone, batches of
#: 1-8, 32-224 px, AVX-512 and AVX2 forced; issue 27). ``"auto"`` picks among them.
REPRODUCIBLE_THREADS = (2, 4)
#: Where cgroup v2 states the CPU quota of the process's container (``"max 100000"`` or ``"200000 100000"``).
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")

#: Values of ``torch.set_float32_matmul_precision``; only ``"highest"`` keeps TF32 off on GPUs.
MATMUL_PRECISIONS = ("highest", "high", "medium")
#: The ``CUBLAS_WORKSPACE_CONFIG`` deterministic cuBLAS needs (set when the process has none).
CUBLAS_WORKSPACE = ":4096:8"
_CUBLAS_ENV = "CUBLAS_WORKSPACE_CONFIG"


@dataclass(frozen=True)
class Numerics:
    """The numerics of a run's processes; None (or False for ``deterministic``) leaves a setting as it is.

    Args:
        threads: intra-op CPU threads per process (``torch.set_num_threads``), or ``"auto"`` (the default): the
            largest of :data:`REPRODUCIBLE_THREADS` (2, 4) the process's share of cores allows (:func:`auto_threads`;
            2 on a smaller share). Those counts give the same images as each other, so a run's images do not depend
            on the machine's or the process count's cores; 1 thread is another code path.
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an operation without a
            deterministic kernel warns instead of failing), cuDNN ``deterministic=True, benchmark=False``, and
            ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when the environment has none; torch's NaN fill of new tensors
            (``torch.utils.deterministic.fill_uninitialized_memory``) is turned off.
        matmul_precision: ``torch.set_float32_matmul_precision``; ``"highest"`` also turns TF32 off for cuBLAS
            matmuls and cuDNN convolutions, ``"high"``/``"medium"`` turn it on.
    """

    threads: int | Literal["auto"] | None = "auto"
    deterministic: bool = True
    matmul_precision: str | None = "highest"

    def check(self) -> Numerics:
        """These numerics, or a :class:`~lit_actmax.errors.ConfigError` saying which value to change (not checked on
        construction, so that a config parser can build them and ``ActMaxModule`` report the mistake itself)."""
        if self.threads not in (None, "auto") and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                                   or self.threads < 1):
            raise ConfigError(f"numerics.threads must be a whole number of at least 1, \"auto\" (or null to keep the "
                              f"process's own), not {self.threads!r}.")
        if self.matmul_precision is not None and self.matmul_precision not in MATMUL_PRECISIONS:
            raise ConfigError(f"numerics.matmul_precision must be one of {', '.join(MATMUL_PRECISIONS)} (or null to "
                              f"keep the process's own), not {self.matmul_precision!r}.")
        return self

    def describe(self) -> dict[str, Any]:
        """The settings as JSON values (``index.json``, the resume fingerprint)."""
        return asdict(self)

    def threads_for(self, processes: int = 1) -> int | None:
        """The thread count :meth:`apply` sets in one of ``processes`` processes sharing this machine's cores (None:
        the process keeps its own)."""
        return auto_threads(processes) if self.threads == "auto" else self.threads

    def apply(self, processes: int = 1) -> NumericsState:
        """Set this process's numerics (after ``check()``), as one of ``processes`` processes sharing the machine (for
        ``threads="auto"``); the returned state's ``restore()`` gives the previous ones back."""
        self.check()
        state = NumericsState.capture()
        threads = self.threads_for(processes)
        if threads is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if self.deterministic:
            if _CUBLAS_ENV not in os.environ:
                os.environ[_CUBLAS_ENV] = CUBLAS_WORKSPACE
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            torch.utils.deterministic.fill_uninitialized_memory = False
        if self.matmul_precision is not None:
            torch.set_float32_matmul_precision(self.matmul_precision)
            torch.backends.cudnn.allow_tf32 = self.matmul_precision != "highest"  # the precision covers matmuls
        return state

    @contextlib.contextmanager
    def pinned(self, processes: int = 1) -> Iterator[Numerics]:
        """``with numerics.pinned():`` the block runs with these numerics; the previous ones come back after it."""
        state = self.apply(processes)
        try:
            yield self
        finally:
            state.restore()


#: The default: "auto" threads (2 or 4), deterministic algorithms, float32 at the highest precision (no TF32).
PINNED = Numerics()


def available_cores() -> int:
    """The CPU cores this process may use: its affinity mask (``os.sched_getaffinity``, else ``os.cpu_count()``),
    capped by the cgroup v2 CPU quota of its container when one is set (``/sys/fs/cgroup/cpu.max``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def auto_threads(processes: int = 1) -> int:
    """``threads="auto"``: the largest of :data:`REPRODUCIBLE_THREADS` not above this process's share of
    :func:`available_cores` (``cores // processes``), else the smallest (2 threads on one core still give the same
    images, only slower)."""
    share = available_cores() // max(1, int(processes))
    return max([t for t in REPRODUCIBLE_THREADS if t <= share], default=REPRODUCIBLE_THREADS[0])


def same_images_numerics(setting: Any) -> Any:
    """A run's numerics setting (``Numerics.describe()``'s mapping, or its ``Numerics(threads=...)`` description) as
    it compares with another run's: a thread count of :data:`REPRODUCIBLE_THREADS` reads as ``"auto"``, since those
    give the same images; so a continued folder or a resume on a machine with more cores is not refused."""
    same = "auto"
    if isinstance(setting, dict) and (setting.get("threads") in REPRODUCIBLE_THREADS or setting.get("threads") == same):
        return {**setting, "threads": same}
    if isinstance(setting, str):
        counts = "|".join(str(t) for t in REPRODUCIBLE_THREADS)
        return re.sub(rf"\bthreads=(?:{counts}|'auto')(?=[,)])", f"threads={same!r}", setting)
    return setting


@dataclass(frozen=True)
class NumericsState:
    """A process's numerics at one moment (``capture``), to be given back (``restore``)."""

    threads: int
    deterministic: bool
    deterministic_warn_only: bool
    cudnn_deterministic: bool
    cudnn_benchmark: bool
    fill_uninitialized_memory: bool
    matmul_precision: str
    cuda_matmul_allow_tf32: bool
    cudnn_allow_tf32: bool
    cublas_workspace_config: str | None

    @classmethod
    def capture(cls) -> NumericsState:
        """This process's settings now."""
        return cls(
            threads=torch.get_num_threads(),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
            cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
            cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
            fill_uninitialized_memory=bool(torch.utils.deterministic.fill_uninitialized_memory),
            matmul_precision=torch.get_float32_matmul_precision(),
            cuda_matmul_allow_tf32=bool(torch.backends.cuda.matmul.allow_tf32),
            cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
            cublas_workspace_config=os.environ.get(_CUBLAS_ENV),
        )

    def restore(self) -> None:
        """Set the captured values again (the thread count only if it changed: setting it costs a pool rebuild)."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        torch.backends.cudnn.deterministic = self.cudnn_deterministic
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        torch.utils.deterministic.fill_uninitialized_memory = self.fill_uninitialized_memory
        # the precision also sets cuBLAS TF32; mixing it with the legacy cuda.matmul.allow_tf32 setter makes
        # torch (2.9+) refuse to read the precision afterwards, so that flag is only read, never set
        torch.set_float32_matmul_precision(self.matmul_precision)
        torch.backends.cudnn.allow_tf32 = self.cudnn_allow_tf32
        if self.cublas_workspace_config is None:
            os.environ.pop(_CUBLAS_ENV, None)
        else:
            os.environ[_CUBLAS_ENV] = self.cublas_workspace_config


def current_numerics() -> dict[str, Any]:
    """What is in effect in this process, with the torch build and the CPU instruction set its kernels use (both
    decide results too), the cores it may use and OpenMP's wait policy (see :mod:`lit_actmax.wait_policy`; None:
    unset), as JSON values. Not ``OMP_NUM_THREADS``: launchers set it differently (torchrun, Lightning's ``cores / N``)
    for the same images, and the thread count in effect is ``threads``."""
    state = asdict(NumericsState.capture())
    state.pop("deterministic_warn_only")
    return {**state, "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cores_available": available_cores(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
