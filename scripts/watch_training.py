"""Watch a classifier learn, offline on a CPU: FeatureVisualization in an ordinary Lightning training.

    python scripts/watch_training.py [--out actmax_runs/watch_training] [--epochs 4] [--picture docs/watch_training.png]

A small CNN learns four texture classes drawn on the fly (vertical, horizontal and diagonal stripes, a checkerboard;
random colours, frequencies, phases and noise, so no class is a colour), 32 px, no download. The callback renders the
four class logits at 64 px before the first step and after every epoch, into ``<out>/lightning_logs/version_<k>/
feature_visualization/`` (frames, strips, animations, the site with an "over training" view) and into the CSV log.
The picture (``--picture``) stacks each class's strip: noise before training, the class's texture forming over the
epochs. At the end the script prints the training's time and the renders' share of it (the overhead: measure it on a
quiet machine; the renders' own seconds are in ``evolution.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lit_actmax.callbacks import FeatureVisualization
from lit_actmax.image.contact_sheet import contact_sheet
from lit_actmax.image.io import save_png
from lit_actmax.lightning.package import pl
from lit_actmax.lightning.quiet import quiet_lightning

CLASSES = ["vertical stripes", "horizontal stripes", "diagonal stripes", "checkerboard"]


def texture(label: int, generator: torch.Generator, size: int = 32) -> torch.Tensor:
    """One (3, size, size) image in [0, 1] of class ``label``: two random colours mixed by the class's pattern."""
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    frequency = (3 + 3 * torch.rand(1, generator=generator)) / size  # 3-6 periods across the image
    phase = 2 * math.pi * torch.rand(1, generator=generator)
    angle = 2 * math.pi * frequency
    wave = {0: torch.sin(angle * x + phase), 1: torch.sin(angle * y + phase),
            2: torch.sin(angle * (x + y) / math.sqrt(2) + phase),
            3: torch.sign(torch.sin(angle * x + phase)) * torch.sign(torch.sin(angle * y + phase))}[label]
    mix = (wave + 1) / 2
    a, b = torch.rand(3, 1, 1, generator=generator), torch.rand(3, 1, 1, generator=generator)
    image = a * mix + b * (1 - mix) + 0.08 * torch.randn(3, size, size, generator=generator)
    return image.clamp(0, 1)


class Textures(Dataset):
    """``length`` seeded textures (item ``i``: class ``i % 4``); the same images every epoch."""

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length, self.seed = length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        return texture(index % len(CLASSES), generator), index % len(CLASSES)


class TextureNet(pl.LightningModule):
    """``net``: a 3-conv CNN with BatchNorm on images (B, 3, H, W) in [0, 1] (any size: global pooling) -> 4 logits."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, len(CLASSES)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - 0.5) / 0.25)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", (logits.argmax(1) == y).float().mean(), prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def picture(folder: Path, out: Path) -> None:
    """Each class's frames in a row (training order), captioned with the class and the step."""
    records = [json.loads((folder / "images" / "output" / f"unit_{u:05d}.json").read_text()) for u in range(len(CLASSES))]
    frames = [(folder / f["image"], f"{CLASSES[r['unit']].split()[0]}, {f['caption']}") for r in records
              for f in r["evolution"]]
    sheet = contact_sheet([p for p, _ in frames], [c for _, c in frames], tile=112, columns=len(records[0]["evolution"]))
    save_png(out, sheet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="actmax_runs/watch_training", help="the training's folder (logs, renders)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=1024, help="training images (a quarter per class)")
    parser.add_argument("--steps", type=int, default=64, help="optimizer steps per rendered image")
    parser.add_argument("--size", type=int, default=64, help="side of the rendered images")
    parser.add_argument("--picture", default=None, help="write the classes' frames over training as one PNG")
    args = parser.parse_args()
    quiet_lightning()
    torch.set_num_threads(2)
    pl.seed_everything(0, workers=True)
    watch = FeatureVisualization(units="0-3", class_names=CLASSES, preprocess=nn.Identity(), size=args.size,
                                 steps=args.steps, batch_size=4, every_n_epochs=1)
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=1, default_root_dir=args.out,
                         logger=pl.loggers.CSVLogger(args.out, name="lightning_logs"), callbacks=[watch],
                         enable_checkpointing=False, enable_model_summary=False, log_every_n_steps=8)
    start = time.perf_counter()
    trainer.fit(TextureNet(), DataLoader(Textures(args.images), batch_size=32, shuffle=True))
    total = time.perf_counter() - start
    folder = watch.writer.run_dir
    renders = json.loads((folder / "evolution.json").read_text())["renders"]
    spent = sum(r["seconds"] for r in renders)
    print(f"Training with {len(renders)} renders of {len(CLASSES)} classes ({args.steps} steps at {args.size} px): "
          f"{total:.1f} s, of which the renders {spent:.1f} s ({spent / total:.0%}); site: {folder / 'site' / 'index.html'}")
    if args.picture:
        picture(folder, Path(args.picture))
        print(f"Picture: {args.picture}")


if __name__ == "__main__":
    main()
