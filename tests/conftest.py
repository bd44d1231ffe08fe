"""Shared fixtures and helpers: a fast CPU Trainer factory, tiny modules, the 2-process render helper.

Test files never import each other: what several of them use lives here, handed out by fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

os.environ.setdefault("PYTHONHASHSEED", "0")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
warnings.filterwarnings("ignore", message=".*in eval mode.*")

TINY = "lit_actmax.testing:tiny_backbone"
ROOT = Path(__file__).resolve().parents[1]
RENDER_UNITS = ROOT / "tests" / "dist_helpers" / "render_units.py"


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
    from lit_actmax.backbones import load_backbone

    return load_backbone("lite0")


@pytest.fixture(scope="session")
def tiny_module():
    """Factory of a small ActMaxModule on the tiny backbone; keyword arguments override the defaults.

    Defaults: channels 0-3 of ``features.2`` at 32 px, one group of 4, one epoch of 3 steps, jitter 2, no output files.
    """
    from lit_actmax import ActMaxModule, Channel
    from lit_actmax.augment import Compose, Jitter

    def build(**overrides):
        options = dict(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=4,
                       steps_per_epoch=3, epochs=1, transforms=Compose([Jitter(2)]), save_outputs=False)
        options.update(overrides)
        return ActMaxModule(**options)

    return build


def _settings(transform) -> dict:
    """A transform's settings (its plain attributes), for comparing two that were built differently."""
    return {k: v for k, v in vars(transform).items() if not k.startswith("_") and k not in ("training", "last_boxes")}


@pytest.fixture(scope="session")
def same_transforms():
    """``same_transforms(built, expected)``: whether two ``Compose`` hold the same transform types in order, with
    the same settings."""

    def same(built, expected) -> bool:
        built, expected = built.transforms, expected.transforms
        return [type(t) for t in built] == [type(t) for t in expected] and all(
            _settings(a) == _settings(b) for a, b in zip(built, expected))

    return same


@pytest.fixture(scope="session")
def render_units():
    """``render_units(out, *args)``: run tests/dist_helpers/render_units.py (1 or 2 processes) into ``out`` and
    return the finished process; each rank leaves ``out/rank<k>.pt``."""

    def render(out: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(RENDER_UNITS), str(out), *args], capture_output=True, text=True,
                              timeout=600, cwd=ROOT)

    return render


@pytest.fixture(scope="session")
def load_ranks():
    """``load_ranks(out)``: the ``rank<k>.pt`` records a render_units run left in ``out``, in rank order."""

    def load(out: Path) -> list[dict]:
        return [torch.load(p) for p in sorted(out.glob("rank*.pt"))]

    return load


@pytest.fixture(scope="session")
def images_of():
    """``images_of(ranks)``: {unit: final image} over the records of every rank."""

    def images(ranks: list[dict]) -> dict[int, torch.Tensor]:
        return {u: img for r in ranks for u, img in r["images"].items()}

    return images


def load_script(name: str):
    """``scripts/<name>.py`` as a module (scripts are files, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def script():
    """``script(name)``: ``scripts/<name>.py`` as a module, with ``scripts/`` on ``sys.path`` as ``python
    scripts/<name>.py`` has it (a script imports its siblings: ``import quality``)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return load_script


class HeadlessChromium:
    """Headless Chromium from the file system, offline and quiet (scripts/headless_chromium.py does the work)."""

    def __init__(self, browser: str, helper) -> None:
        self.browser, self.helper = browser, helper

    def run(self, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
        return self.helper.run_headless(self.browser, profile, *arguments)

    def dump_dom(self, page: Path | str, profile: Path, *arguments: str) -> str:
        """The DOM after the load event (``page``: a file, or a URL such as ``file:///...#sort=-activation``)."""
        return self.helper.dump_dom(self.browser, page, profile, *arguments)

    def screenshot(self, page: Path | str, out: Path, profile: Path, size: str = "1280,1400"):
        """The screenshot of ``page`` as an (H, W, 3) uint8 array (every image loaded, lazy or not)."""
        import numpy as np
        from PIL import Image

        self.helper.screenshot(self.browser, page, out, profile, size)
        return np.asarray(Image.open(out).convert("RGB"))

    def load_ms(self, page: Path, profile: Path) -> float | None:
        """A site page's own load time (``data-load-ms``), lazy loading on as in a desktop browser."""
        return self.helper.load_ms(self.dump_dom(page, profile, self.helper.LAZY_LOADING))


@pytest.fixture(scope="session")
def chromium() -> HeadlessChromium:
    """Headless Chromium; the test is skipped, saying why, when none is installed."""
    helper = load_script("headless_chromium")
    browser = helper.find_browser()
    if browser is None:
        pytest.skip("chromium is not installed and could not be installed here (make test runs "
                    "scripts/ensure_chromium.sh, which needs root and apt-get); the pages were not opened in a browser.")
    return HeadlessChromium(browser, helper)


@pytest.fixture(scope="session")
def site_load_time():
    """scripts/site_load_time.py as a module: ``write_synthetic_atlas(run_dir, layers, units, size)``, ``main``."""
    return load_script("site_load_time")


class ColourWorld:
    """Synthetic natural images of one hue each, and a colour-histogram embedding (callable, with ``describe()``):
    units with a known answer for the explanation score (tests/core/test_explanation_score.py,
    tests/run/test_explanation_scores.py, tests/cli/test_atlas.py)."""

    @staticmethod
    def hue_images(hues: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
        """(N,) hues in [0, 1) -> (N, 3, size, size): each image that hue (+- 0.03 per pixel) with a smooth random
        brightness and saturation texture."""
        import torch.nn.functional as F

        n = hues.numel()

        def smooth() -> torch.Tensor:
            return F.interpolate(torch.rand(n, 1, 4, 4, generator=generator), size=(size, size), mode="bilinear",
                                 align_corners=False)

        value, saturation = 0.35 + 0.6 * smooth(), 0.5 + 0.5 * smooth()
        hue = hues.view(n, 1, 1, 1) + 0.03 * torch.randn(n, 1, size, size, generator=generator)
        k = (torch.tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1) + hue * 6) % 6  # HSV -> RGB
        return (value - value * saturation * torch.clamp(torch.minimum(k, 4 - k), 0, 1)).clamp(0, 1)

    @staticmethod
    def colour_histogram(images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 64): the share of pixels in each cell of a 4 x 4 x 4 RGB grid."""
        cells = (images.clamp(0, 1) * 3.999).long()
        index = (cells[:, 0] * 16 + cells[:, 1] * 4 + cells[:, 2]).flatten(1)
        return torch.nn.functional.one_hot(index, 64).float().mean(1)

    def describe(self) -> str:
        return "colour histogram 4x4x4"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.colour_histogram(images)


@pytest.fixture(scope="session")
def colour_world() -> ColourWorld:
    """:class:`ColourWorld`: hue images and a colour-histogram embedding."""
    return ColourWorld()
