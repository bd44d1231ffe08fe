"""Every global random stream of a process at one moment: torch (CPU and each CUDA device), numpy and Python.

:class:`RandomState` is captured before work that must leave no trace in a training run (a render of the model being
trained) and restored after it, so the training draws the same numbers (dropout, shuffling, augmentation) as it would
have without that work. Plain torch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["RandomState"]


@dataclass(frozen=True)
class RandomState:
    """The states of torch's CPU generator, of each initialized CUDA device's generator, of numpy's global generator
    and of Python's ``random`` module (``capture`` now, ``restore`` later)."""

    torch_cpu: torch.Tensor
    cuda: tuple[torch.Tensor, ...]
    numpy: Any
    python: Any

    @classmethod
    def capture(cls) -> RandomState:
        """This process's random states now (CUDA only when it is initialized: reading it would start it)."""
        cuda = tuple(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() and torch.cuda.is_initialized() else ()
        return cls(torch_cpu=torch.get_rng_state(), cuda=cuda, numpy=np.random.get_state(), python=random.getstate())

    def restore(self) -> None:
        """Set every captured state again."""
        torch.set_rng_state(self.torch_cpu)
        if self.cuda:
            torch.cuda.set_rng_state_all(list(self.cuda))
        np.random.set_state(self.numpy)
        random.setstate(self.python)
