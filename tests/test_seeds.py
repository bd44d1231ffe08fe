"""The seed methods: act_max_util reproduced step for step, and the lite0 twins of configs/seeds run offline
(with short settings) and raise their target activation."""

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from scipy import ndimage

from lit_actmax import ActMaxModule, ClassLogit
from lit_actmax.augment import Compose
from lit_actmax.callbacks import ContributionCrop, GaussianBlur, L2Decay, NormCrop
from lit_actmax.cli.lightning_cli import ActMaxCLI
from lit_actmax.core.optim import GradientAscent
from lit_actmax.core.seeding import STREAM_INIT, unit_generators
from lit_actmax.lightning.quiet import quiet_lightning
from lit_actmax.params import Pixel
from lit_actmax.testing import tiny_convnet

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "configs" / "seeds"


def act_max_util_reference(z, network, unit, steps, alpha):
    """act_max_util.act_max's loop (with all four regularizers on), in NumPy/SciPy as the original does them."""
    for k in range(steps):
        z = torch.from_numpy(z).unsqueeze(0).requires_grad_(True)
        network(z)[0, unit].backward()
        z = (z + alpha * z.grad).detach()[0].numpy().astype(np.float64)
        z = z * (1.0 - 0.1)
        if k % 4 == 0:
            z = np.stack([ndimage.gaussian_filter(c, 1) for c in z])
        norm = np.linalg.norm(z, axis=0)
        z = z - z * np.tile(norm < np.percentile(norm, 30), (3, 1, 1))
        z = z - z * (np.abs(z) < np.percentile(np.abs(z), 30))
        z = z.astype(np.float32)
    return z


def test_act_max_util_step_for_step():
    """Tool 1 on the tiny backbone (preprocessing (x - 0.5) / 0.25): the module with GradientAscent + L2Decay +
    GaussianBlur(every 4) + NormCrop + ContributionCrop ends on the original loop's image."""
    quiet_lightning()
    unit, steps, alpha, seed, size = 3, 9, 3000.0, 4, 24
    module = ActMaxModule(
        backbone="lit_actmax.testing:tiny_backbone", objective=ClassLogit(), units=[unit], size=size, batch_size=1,
        steps_per_epoch=1, epochs=steps, seed=seed, param=Pixel(activation="none", mean=0.5, sd=0.25),
        transforms=Compose([]), optimizer=lambda p: GradientAscent(p, lr=alpha, channel_scale=[0.0625] * 3),
        save_outputs=False,
    )
    start = Pixel(activation="none", mean=0.5, sd=0.25)
    start.reset(unit_generators(seed, [unit], [0], STREAM_INIT), size)
    z0 = ((start().detach()[0] - 0.5) / 0.25).numpy()
    callbacks = [L2Decay(0.1), GaussianBlur(1.0, every=4), NormCrop(30), ContributionCrop(30)]
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=callbacks)
    trainer.fit(module)
    expected = 0.5 + 0.25 * torch.from_numpy(act_max_util_reference(z0, tiny_convnet().eval(), unit, steps, alpha))
    ours = module.renderer.param().detach()[0]
    assert (expected - 0.5).abs().max() > 0.1 and (expected == 0.5).float().mean() > 0.3  # ascent and crops acted
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)  # measured: 1.2e-7


class FirstActivation(pl.Callback):
    """The target activation of the initial images (the first step's, un-augmented: the twins have no transforms)."""

    def __init__(self):
        self.value = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.value is None:
            self.value = pl_module.step_activations.detach().clone()


#: short settings per twin (the shipped configs run minutes on a CPU): --model.<key> value
SHORT = {
    "act_max_util_lite0.yaml": {"epochs": 12, "size": 128},
    "midnite_channel_lite0.yaml": {"epochs": 4, "steps_per_epoch": 10},
    "midnite_screw_lite0.yaml": {"epochs": 4, "steps_per_epoch": 10},  # at its 300 px (at 64 px the 9-px filter wipes it)
}


@pytest.mark.parametrize("name", sorted(p.name for p in SEEDS.glob("*_lite0.yaml")))
@pytest.mark.slow
def test_lite0_twin_runs_offline_and_raises_the_activation(name, tmp_path, monkeypatch):
    quiet_lightning()
    monkeypatch.chdir(ROOT)
    overrides = SHORT.get(name, {"epochs": 3, "steps_per_epoch": 2, "size": 96})
    args = ["--config", str(SEEDS / name), "--model.out_dir", str(tmp_path), "--trainer.enable_progress_bar", "false",
            "--trainer.accelerator", "cpu"]
    for key, value in overrides.items():
        args += [f"--model.{key}", str(value)]
    cli = ActMaxCLI(args=args, run=False)
    first = FirstActivation()
    cli.trainer.callbacks.append(first)
    cli.trainer.fit(cli.model)
    finished = cli.model.last_finished
    start, end = float(first.value[0]), float(finished.activations[0])
    assert end > start + 0.1 * abs(start) + 1e-3, (name, start, end)
    assert (cli.model.run_dir / "index.json").is_file()
    if "midnite" in name:  # grown between iterations, not after the last one
        assert finished.images.shape[-1] > overrides.get("size", cli.model.renderer.size[0])


@pytest.mark.parametrize("name", sorted(p.name for p in SEEDS.glob("*.yaml") if not p.name.endswith("_lite0.yaml")))
def test_pretrained_configs_are_valid_and_run_with_random_weights(name, tmp_path, monkeypatch):
    """The AlexNet / GoogLeNet originals need cached pretrained weights; here they run a few steps with random
    weights (same callbacks, objective and optimizer), so a typo in them cannot ship."""
    quiet_lightning()
    monkeypatch.chdir(ROOT)
    args = ["--config", str(SEEDS / name), "--model.out_dir", str(tmp_path), "--trainer.enable_progress_bar", "false",
            "--trainer.accelerator", "cpu", "--model.weights", "null", "--model.epochs", "2",
            "--model.steps_per_epoch", "2", "--model.size", "96"]
    cli = ActMaxCLI(args=args, run=False)
    assert cli.model.spec.startswith("torchvision:")
    cli.trainer.fit(cli.model)
    finished = cli.model.last_finished
    assert torch.isfinite(finished.activations).all()
    assert (cli.model.run_dir / "index.json").is_file()


def test_pixel_start_is_standard_normal_in_alexnet_space():
    """act_max_util_alexnet.yaml's Pixel(mean, sd per channel) starts at z ~ N(0, 1) after ImageNet normalization."""
    param = Pixel(activation="none", mean=[0.485, 0.456, 0.406], sd=[0.229, 0.224, 0.225])
    param.reset(unit_generators(0, [130], [0], STREAM_INIT), 227)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    z = (param().detach()[0] - mean) / std
    torch.testing.assert_close(z.mean((1, 2)), torch.zeros(3), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std((1, 2)), torch.ones(3), atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="one number or three"):
        Pixel(activation="none", mean=[0.5, 0.5])
