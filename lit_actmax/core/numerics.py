"""``Numerics``: the process settings that decide the floating-point result of a step, pinned by the run's config.

A unit's image is a long chain of optimizer steps; any change in the order a kernel sums its terms changes the
last bits of one step and, through the chain, the picture. Four process-wide settings choose those orders:

- the intra-op thread count: CPU kernels pick their code path by thread count (EfficientNet-Lite0's kernels give
  other images at 1 thread and batches below 8 than at 2 or more threads, where every batch size and thread count
  we measured, 2 to 8, agrees), and Lightning gives each of N processes ``cores / N`` threads, so the same config
  gives other images on another process count unless the count is pinned;
- deterministic algorithms (``torch.use_deterministic_algorithms``, cuDNN ``deterministic`` and no
  ``benchmark``, which times kernels and may pick another one per run);
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
import os
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import torch

from ..errors import ConfigError

__all__ = ["MATMUL_PRECISIONS", "CUBLAS_WORKSPACE", "PINNED", "Numerics", "NumericsState", "current_numerics"]

#: Values of ``torch.set_float32_matmul_precision``; only ``"highest"`` keeps TF32 off on GPUs.
MATMUL_PRECISIONS = ("highest", "high", "medium")
#: The ``CUBLAS_WORKSPACE_CONFIG`` deterministic cuBLAS needs (set when the process has none).
CUBLAS_WORKSPACE = ":4096:8"
_CUBLAS_ENV = "CUBLAS_WORKSPACE_CONFIG"


@dataclass(frozen=True)
class Numerics:
    """The numerics of a run's processes; None (or False for ``deterministic``) leaves a setting as it is.

    Args:
        threads: intra-op CPU threads per process (``torch.set_num_threads``). The same number on every process
            count gives the same images. The default, 2, is the smallest count on the multi-threaded code path, where
            lite0's images measured the same for every batch size (1-8) and thread count (2-8); 1 thread is another
            path (its images depend on the batch size).
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an operation without a
            deterministic kernel warns instead of failing), cuDNN ``deterministic=True, benchmark=False``, and
            ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when the environment has none.
        matmul_precision: ``torch.set_float32_matmul_precision``; ``"highest"`` also turns TF32 off for cuBLAS
            matmuls and cuDNN convolutions, ``"high"``/``"medium"`` turn it on.
    """

    threads: int | None = 2
    deterministic: bool = True
    matmul_precision: str | None = "highest"

    def check(self) -> Numerics:
        """These numerics, or a :class:`~lit_actmax.errors.ConfigError` saying which value to change (not checked on
        construction, so that a config parser can build them and ``ActMaxModule`` report the mistake itself)."""
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ConfigError(f"numerics.threads must be a whole number of at least 1 (or null to keep the "
                              f"process's own), not {self.threads!r}.")
        if self.matmul_precision is not None and self.matmul_precision not in MATMUL_PRECISIONS:
            raise ConfigError(f"numerics.matmul_precision must be one of {', '.join(MATMUL_PRECISIONS)} (or null to "
                              f"keep the process's own), not {self.matmul_precision!r}.")
        return self

    def describe(self) -> dict[str, Any]:
        """The settings as JSON values (``index.json``, the resume fingerprint)."""
        return asdict(self)

    def apply(self) -> NumericsState:
        """Set this process's numerics (after ``check()``); the returned state's ``restore()`` gives the previous ones
        back."""
        self.check()
        state = NumericsState.capture()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        if self.deterministic:
            if _CUBLAS_ENV not in os.environ:
                os.environ[_CUBLAS_ENV] = CUBLAS_WORKSPACE
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        if self.matmul_precision is not None:
            torch.set_float32_matmul_precision(self.matmul_precision)
            torch.backends.cudnn.allow_tf32 = self.matmul_precision != "highest"  # the precision covers matmuls
        return state

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Numerics]:
        """``with numerics.pinned():`` the block runs with these numerics; the previous ones come back after it."""
        state = self.apply()
        try:
            yield self
        finally:
            state.restore()


#: The default: 2 threads, deterministic algorithms, float32 at the highest precision (no TF32).
PINNED = Numerics()


@dataclass(frozen=True)
class NumericsState:
    """A process's numerics at one moment (``capture``), to be given back (``restore``)."""

    threads: int
    deterministic: bool
    deterministic_warn_only: bool
    cudnn_deterministic: bool
    cudnn_benchmark: bool
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
    decide results too), as JSON values."""
    state = asdict(NumericsState.capture())
    state.pop("deterministic_warn_only")
    return {**state, "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
