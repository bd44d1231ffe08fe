"""Run a 2-process helper script of this folder and load what each rank saved (``OUT/rank<r>.pt``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def run_helper(script: str, out: Path, ranks: int = 2, *args: str) -> list[dict]:
    result = subprocess.run([sys.executable, str(HERE / script), str(out), *args], capture_output=True, text=True,
                            timeout=600, cwd=HERE.parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(ranks)]
