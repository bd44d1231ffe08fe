"""Train a small CNN for 3 epochs, with or without FeatureVisualization, and keep everything the training ends with.

    python tests/dist_helpers/watched_training.py OUT [--watch]     (2 CPU processes, DDP)

The network has BatchNorm and dropout; its training step flips with Python's ``random`` and adds numpy noise; the
DataLoader shuffles (torch's generator), Adam runs under a StepLR schedule. So a render that leaked anything into the
training (a gradient, a train/eval mode, a BatchNorm update, a draw of any random stream) would change the end state.
:func:`train` returns that state; run as a script, Lightning's launcher re-runs this file for rank 1 and every rank
saves its state to ``OUT/rank<r>.pt``. The one-process tests import :func:`train` (``tests/callbacks``).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lit_actmax.augment import Compose, Jitter  # noqa: E402
from lit_actmax.callbacks import FeatureVisualization  # noqa: E402
from lit_actmax.lightning.package import pl  # noqa: E402
from lit_actmax.lightning.quiet import quiet_lightning  # noqa: E402

EPOCHS = 3


class WatchedNet(pl.LightningModule):
    """A 4-class CNN on (B, 3, 16, 16) images: ``net`` (conv, BatchNorm, ReLU, conv, BatchNorm, ReLU, pool, dropout,
    linear)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(16, 4),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if random.random() < 0.5:  # Python's stream
            x = x.flip(-1)
        x = x + torch.from_numpy(np.random.normal(0.0, 0.05, size=tuple(x.shape)).astype(np.float32))  # numpy's
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.01)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)}


def loader() -> DataLoader:
    """48 images of 4 classes (a class is a colour bias), shuffled by torch's global stream, batches of 8."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 4
    x = torch.rand(48, 3, 16, 16, generator=g) * 0.5
    x[:, 0] += (y == 0).float().view(-1, 1, 1) * 0.5
    x[:, 1] += (y == 1).float().view(-1, 1, 1) * 0.5
    x[:, 2] += (y == 2).float().view(-1, 1, 1) * 0.5
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)


def visualization(dirpath: str, **overrides: Any) -> FeatureVisualization:
    """Classes 0-3 and channels 0-1 of the first BatchNorm, at 16 px, 4 steps: at the start, every 4 steps (also in
    the middle of an epoch) and at every epoch's end."""
    options: dict[str, Any] = dict(units={"1": "0-1", "output": "0-3"}, model="net", size=16, steps=4,
                                   batch_size=4, every_n_steps=4, transforms=Compose([Jitter(1)]), dirpath=dirpath)
    options.update(overrides)
    return FeatureVisualization(**options)


def end_state(trainer: pl.Trainer, module: WatchedNet) -> dict[str, Any]:
    """Everything the training ends with: every tensor of the module's state (weights, BatchNorm statistics and
    counters), the optimizer's and scheduler's state, each parameter's ``requires_grad`` and gradient, each
    submodule's mode, and the random streams."""
    return {
        "module": {k: v.detach().clone() for k, v in module.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in module.parameters()],
        "requires_grad": [p.requires_grad for p in module.parameters()],
        "training": [m.training for m in module.modules()],
        "optimizer": trainer.optimizers[0].state_dict(),
        "scheduler": trainer.lr_scheduler_configs[0].scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "python_rng": random.getstate(),
        "global_step": trainer.global_step,
    }


def train(root: Path, watch: FeatureVisualization | None, ckpt_path: str | None = None,
          **trainer_options: Any) -> tuple[dict[str, Any], pl.Trainer]:
    """Train :class:`WatchedNet` from seed 0 for :data:`EPOCHS` epochs (with ``watch`` as a callback, if given) in
    ``root``, resuming from ``ckpt_path`` if given; returns :func:`end_state` and the Trainer."""
    quiet_lightning()
    pl.seed_everything(0, workers=True)
    module = WatchedNet()
    options: dict[str, Any] = dict(max_epochs=EPOCHS, accelerator="cpu", devices=1, logger=False,
                                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                   default_root_dir=str(root), callbacks=[watch] if watch is not None else [])
    options.update(trainer_options)
    trainer = pl.Trainer(**options)
    trainer.fit(module, loader(), ckpt_path=ckpt_path)
    return end_state(trainer, module), trainer


def main(out: Path, watch: bool) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    callback = visualization(str(out / "renders")) if watch else None
    state, trainer = train(out, callback, devices=2, strategy="ddp")
    if callback is not None:
        state["rendered_steps"] = list(callback.rendered_steps)
        state["failures"] = callback.failures
    torch.save(state, out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--watch" in sys.argv[2:])
