"""Shared fixtures: a fast CPU Trainer factory and tiny backbones."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

os.environ.setdefault("PYTHONHASHSEED", "0")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
warnings.filterwarnings("ignore", message=".*in eval mode.*")

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.fixture
def make_trainer(tmp_path):
    """Build a quiet single-process CPU Trainer; keyword arguments override the defaults."""
    import pytorch_lightning as pl

    def build(**overrides):
        options = dict(
            accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, use_distributed_sampler=False,
            default_root_dir=str(tmp_path),
        )
        options.update(overrides)
        return pl.Trainer(**options)

    return build


@pytest.fixture(scope="session")
def lite0():
    """The embedded pretrained EfficientNet-Lite0 (loaded once per session)."""
    from lit_actmax.models import load_backbone

    return load_backbone("lite0")
