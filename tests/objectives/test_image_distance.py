"""Feature accentuation: start from an image file, push toward a unit, stay close to the seed."""

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax import ActMaxModule, Channel, ConfigError, Fourier, Pixel
from lit_actmax.augment import Compose
from lit_actmax.cli.lightning_cli import ActMaxCLI
from lit_actmax.core.schedule import UnitImage
from lit_actmax.image.io import load_image
from lit_actmax.objectives.image_distance import ImageDistance

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.fixture
def seed_file(tmp_path):
    y, x = np.mgrid[0:48, 0:64]
    image = np.stack([x / 63, y / 47, 0.5 + 0.4 * np.sin(x / 5) * np.cos(y / 7)], -1)
    path = tmp_path / "seed.png"
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    return path


def render(seed_file, make_trainer, regularizers, param=None, steps=24, **overrides):
    options = dict(backbone=TINY, objective=Channel("features.2"), units=[1, 6], size=32, batch_size=2,
                   steps_per_epoch=steps, epochs=1, init_image=str(seed_file), regularizers=regularizers,
                   param=param or Pixel(), transforms=Compose([]), save_outputs=False,
                   optimizer=lambda p: torch.optim.Adam(p, lr=0.1))
    options.update(overrides)
    module = ActMaxModule(**options)
    make_trainer().fit(module)
    return module


@pytest.mark.parametrize("param", [Pixel, Fourier])
def test_images_start_from_the_seed(seed_file, param):
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units=[0, 1], size=32, batch_size=2,
                          init_image=str(seed_file), param=param(), save_outputs=False)
    module.renderer.start([UnitImage(0, 0, True), UnitImage(1, 0, True)])
    torch.testing.assert_close(module.renderer.param().detach(), load_image(seed_file, 32).expand(2, -1, -1, -1), atol=2e-3, rtol=0)


def test_large_closeness_weight_stays_near_the_seed(seed_file, make_trainer):
    seed = load_image(seed_file, 32)
    free = render(seed_file, make_trainer, [])
    close = render(seed_file, make_trainer, [ImageDistance(weight=100.0)])
    far = (free.last_finished.images - seed).abs().mean(dim=(1, 2, 3))
    near = (close.last_finished.images - seed).abs().mean(dim=(1, 2, 3))
    assert (far > 0.05).all(), far
    assert (near < 0.03).all() and (near < far / 8).all(), (near, far)
    # ...yet the unit is still accentuated a little
    start = render(seed_file, make_trainer, [], steps=1, optimizer=lambda p: torch.optim.SGD(p, lr=0.0))
    assert (close.last_finished.activations > start.last_finished.activations).all()


def test_activation_space_closeness(seed_file, make_trainer):
    layer = "features.4"
    free = render(seed_file, make_trainer, [ImageDistance(weight=0.0, layer=layer)])
    close = render(seed_file, make_trainer, [ImageDistance(weight=50.0, layer=layer)])
    term = close.renderer.regularizers[0]
    def distance(module):
        batch = module.renderer.render(module.last_finished.images, None)
        return term.score(batch) / term.weight
    assert (distance(close) < distance(free) / 3).all()
    assert term.describe() == "ImageDistance(50, features.4)"


def test_bad_configs_fail_when_the_module_is_built(seed_file, tmp_path):
    settings = dict(backbone=TINY, objective=Channel("features.2"), units=[0], size=32, batch_size=1)
    with pytest.raises(ConfigError, match="does not exist"):
        ActMaxModule(**settings, init_image=str(tmp_path / "x.png"))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ConfigError, match="is not an image Pillow can read"):
        ActMaxModule(**settings, init_image=str(tmp_path / "text.png"))
    with pytest.raises(ConfigError, match="init_image"):
        ActMaxModule(**settings, regularizers=[ImageDistance(1.0)])
    unpooled = ImageDistance(1.0, image=str(seed_file), layer="features.2", pooled=False)
    with pytest.raises(ConfigError, match="pooled=True"):  # Lucid transforms pad and jitter: views differ in size
        ActMaxModule(**settings, regularizers=[unpooled])


def test_accentuation_config_parses(seed_file):
    cli = ActMaxCLI(args=["--config", "configs/experiments/accentuate_lite0.yaml", "--model.backbone", TINY,
                          "--model.init_image", str(seed_file), "--model.objective.init_args.layer", "output",
                          "--model.units", "[1]", "--model.size", "32"], run=False)
    module = cli.model
    assert module.renderer.init_image == str(seed_file)
    assert isinstance(module.renderer.regularizers[0], ImageDistance) and isinstance(module.renderer.param, Fourier)
