"""configs/presets/: the transformer preset (Ghiasi et al. 2022) parses, builds the ``vit`` recipe and makes several
coloured views."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lit_actmax.augment import ColorJitter, MultiCrop, Noise
from lit_actmax.core.seeding import STREAM_AUGMENT, unit_generators
from lit_actmax.objectives import Channel, TotalVariation
from lit_actmax.params import Pixel
from lit_actmax.recipes import get_recipe
from lit_actmax.run.checkpoint_state import describe_setting

TINY = "lit_actmax.testing:tiny_backbone"
VIT = Path(__file__).resolve().parents[1] / "configs" / "presets" / "vit.yaml"


def _generators(count: int, step: int = 0) -> list[torch.Generator]:
    return unit_generators(0, list(range(count)), [0] * count, STREAM_AUGMENT, step)


@pytest.fixture(scope="module")
def vit_preset(tmp_path_factory):
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    out = tmp_path_factory.mktemp("runs")
    return ActMaxCLI(args=["--config", str(VIT), "--model.backbone", TINY, "--model.objective.init_args.layer",
                           "features.4", "--model.units", "0-3", "--model.size", "32", "--model.out_dir", str(out),
                           "--trainer.accelerator", "cpu"], run=False).model


def test_the_vit_preset_builds_the_papers_recipe(vit_preset):
    renderer = vit_preset.renderer
    objective = renderer.objective.targets[0]  # the run's one objective
    assert isinstance(objective, Channel) and objective.layer == "features.4"
    crop, jitter, noise = renderer.transforms.transforms
    assert isinstance(crop, MultiCrop) and crop.crops == 8 and crop.schedule == "constant"
    assert isinstance(jitter, ColorJitter) and jitter.shift > 0 and jitter.scale > 0
    assert isinstance(noise, Noise) and noise.std > 0
    (tv,) = renderer.regularizers
    assert isinstance(tv, TotalVariation) and tv.beta == 2.0 and tv.weight > 0
    assert isinstance(renderer.param, Pixel)
    optimizer = vit_preset.optimizer_factory(renderer.param.parameters())
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["lr"] == 0.1
    assert vit_preset.schedule.steps_per_epoch * vit_preset.schedule.epochs == 400


def test_the_vit_preset_spells_out_the_vit_recipe(vit_preset):
    recipe, renderer = get_recipe("vit"), vit_preset.renderer
    assert describe_setting(renderer.param) == describe_setting(recipe.param())
    assert describe_setting(renderer.transforms) == describe_setting(recipe.transforms())
    built = vit_preset.optimizer_factory(renderer.param.parameters())
    expected = recipe.optimizer_factory()(renderer.param.parameters())
    assert type(built) is type(expected) and built.defaults == expected.defaults


def test_the_vit_preset_makes_eight_distinct_views_per_image(vit_preset):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    transforms = vit_preset.renderer.transforms
    views = transforms(images, _generators(2))
    assert views.shape == (16, 3, 32, 32)
    assert torch.equal(views, transforms(images, _generators(2)))  # seeded per unit and step
    assert not torch.equal(views, transforms(images, _generators(2, step=1)))
    means = views.mean((2, 3))  # every copy has its own colour
    assert torch.cdist(means[:8], means[:8]).add(torch.eye(8)).min() > 1e-3


def test_the_vit_preset_names_the_mlp_hidden_activation_of_torchvision_vit():
    import yaml
    from torchvision.models import vit_b_16

    text = VIT.read_text()
    assert "Ghiasi et al. 2022" in text and "2212.06727" in text
    layer = yaml.safe_load(text)["model"]["objective"]["init_args"]["layer"]
    assert isinstance(dict(vit_b_16().named_modules())[layer], torch.nn.GELU)

