"""MACO: a fixed natural magnitude spectrum, a learned phase; the spectrum file and its estimation script."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lit_actmax import ActMaxModule, Channel, ConfigError
from lit_actmax.augment import lucid_transforms
from lit_actmax.core.seeding import STREAM_INIT, unit_generators
from lit_actmax.params import Maco, hermitian_phase, rfft2_energy, rgb_to_decorrelated
from lit_actmax.params.spectrum import (
    DEFAULT_SPECTRUM,
    Spectrum,
    estimate_color_matrix,
    estimate_spectrum,
    load_spectrum,
    magnitude_slope,
    resample_magnitude,
    save_spectrum,
    spectrum_slope,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = "lit_actmax.testing:tiny_backbone"


def gens(units, step=0):
    return unit_generators(0, list(units), [0] * len(units), STREAM_INIT, step)


def rfft_magnitude(param: Maco) -> torch.Tensor:
    return torch.fft.rfft2(param.decorrelated().double(), norm="ortho").abs()


def pink_noise(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) images in [0, 1] with a 1/f amplitude spectrum and correlated colours."""
    g = torch.Generator().manual_seed(seed)
    f = torch.sqrt(torch.fft.fftfreq(size).view(-1, 1) ** 2 + torch.fft.rfftfreq(size).view(1, -1) ** 2).clamp(min=1 / size)
    spectrum = torch.randn(n, 1, size, size // 2 + 1, 2, generator=g)
    base = torch.fft.irfft2(torch.view_as_complex(spectrum) / f, s=(size, size))
    tint = torch.tensor([0.3, 0.2, 0.1]).view(1, 3, 1, 1)
    x = base + tint * base.roll(3, -1) + 0.05 * torch.randn(n, 3, size, size, generator=g)
    return ((x - x.mean()) / (4 * x.std()) + 0.5).clamp(0, 1)


@pytest.mark.parametrize("size", [(32, 32), (31, 45), (48, 30)])
def test_magnitude_is_exactly_the_prescribed_one_while_the_phase_changes(size):
    param = Maco()
    param.reset(gens([0, 1]), size)
    assert param().shape == (2, 3, *size)
    before = param.phases().detach().clone()
    torch.testing.assert_close(rfft_magnitude(param), param.magnitude.double().expand(2, -1, -1, -1), atol=1e-4, rtol=1e-4)
    optimizer = torch.optim.Adam(param.parameters(), lr=0.5)
    target = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        optimizer.zero_grad()
        (param() - target).pow(2).mean().backward()
        optimizer.step()
    changed = (param.phases() - before).abs()
    assert changed.mean() > 0.1, "the phase did not move"
    torch.testing.assert_close(rfft_magnitude(param), param.magnitude.double().expand(2, -1, -1, -1), atol=1e-4, rtol=1e-4)
    # through the colour matrix and the sigmoid as well: undo them and find the same magnitude
    x = rgb_to_decorrelated(torch.logit(param().double().clamp(1e-7, 1 - 1e-7)), param.color.double())
    mag = torch.fft.rfft2(x, norm="ortho").abs()
    ok = param.magnitude.double() > 1e-3
    assert ((mag - param.magnitude.double()).abs()[:, ok] / param.magnitude.double()[ok]).median() < 1e-3


def test_contrast_sets_the_standard_deviation_and_the_mean_is_grey():
    for contrast in (0.5, 1.5):
        param = Maco(contrast=contrast)
        param.reset(gens([3]), 40)
        x = param.decorrelated()
        assert abs(float(x.detach().std(unbiased=False)) - contrast) < 1e-3
        assert abs(float(x.detach().mean())) < 1e-4
    image = param().detach()
    assert 0 < float(image.min()) and float(image.max()) < 1


def test_images_depend_only_on_their_unit_and_the_init_is_a_texture_not_a_spike():
    a, b = Maco(), Maco()
    a.reset(gens([5, 7]), 32)
    b.reset(gens([9, 7, 1]), 32)
    torch.testing.assert_close(a()[1], b()[1])
    assert not torch.allclose(a()[0], a()[1])
    x = a.decorrelated()
    assert x.abs().amax() < 6 * x.std(), "random phases must not add up coherently"


@pytest.mark.parametrize("normalize_phase", [True, False])
def test_set_image_keeps_the_phase_and_round_trips_maco_images(normalize_phase):
    param = Maco(activation="none", normalize_phase=normalize_phase)
    param.reset(gens([1, 2]), (24, 30))
    image = param().detach()
    other = Maco(activation="none", normalize_phase=normalize_phase)
    other.set_image(image)
    torch.testing.assert_close(other(), image, atol=1e-5, rtol=1e-5)
    # a natural image: its phase is kept, its magnitude replaced
    natural = pink_noise(1, 32)
    param.set_image(natural)
    given = torch.fft.rfft2(rgb_to_decorrelated(natural, param.color), norm="ortho")
    got = torch.fft.rfft2(param.decorrelated(), norm="ortho")
    strong = given.abs() > given.abs().median()
    strong[..., 0, 0] = False
    phase_error = torch.angle(got[strong] * given[strong].conj()).abs()
    assert phase_error.max() < 1e-3
    assert param.size == (32, 32)


def test_hermitian_phase_is_odd_in_the_self_conjugate_columns():
    phase = torch.randn(2, 3, 8, 5)
    odd = hermitian_phase(phase, 8)
    neg = (-torch.arange(8)) % 8
    unit = torch.polar(torch.ones_like(odd), odd)
    for col in (0, 4):  # phase(-k) = -phase(k) (mod 2 pi); the self-conjugate points are real: 0 or pi
        torch.testing.assert_close(unit[..., col], unit[..., neg, col].conj())
        assert (unit[..., [0, 4], col].imag.abs() < 1e-6).all()
    torch.testing.assert_close(odd[..., 1:4], phase[..., 1:4])
    torch.testing.assert_close(hermitian_phase(phase, 9)[..., 4], phase[..., 4])  # odd width: no Nyquist column


@pytest.mark.slow
def test_shipped_spectrum_is_small_natural_and_loads_without_scikit_image():
    assert DEFAULT_SPECTRUM.is_file() and DEFAULT_SPECTRUM.stat().st_size < 500_000
    code = ("import sys; sys.modules['skimage'] = None; from lit_actmax.params import Maco; "
            "p = Maco(); print(tuple(p._spectrum.magnitude.shape))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "(3, 256, 129)"
    spectrum = load_spectrum()
    assert spectrum.sources and all(s.startswith("skimage.data.") for s in spectrum.sources)
    slopes = magnitude_slope(spectrum.magnitude, 256)
    assert ((slopes < -0.8) & (slopes > -2.0)).all(), slopes
    assert spectrum.color[:, 0].min() > 0, "the first colour direction is the luminance"


def test_resample_keeps_a_power_law_and_is_identity_at_the_same_size():
    size = 64
    f = torch.sqrt(torch.fft.fftfreq(size).view(-1, 1) ** 2 + torch.fft.rfftfreq(size).view(1, -1) ** 2).clamp(min=1 / size)
    mag = (1.0 / f).expand(3, -1, -1).contiguous()
    torch.testing.assert_close(resample_magnitude(mag, (size, size)), mag, rtol=1e-5, atol=1e-5)
    small = resample_magnitude(mag, (40, 52))
    assert small.shape == (3, 40, 27)
    assert abs(float(magnitude_slope(small, 52).mean()) + 1.0) < 0.05


def test_estimate_recovers_a_known_spectrum_slope_and_colour_covariance():
    images = list(pink_noise(6, 96, seed=1))
    spectrum = estimate_spectrum(images, size=64, crops=4, seed=0)
    assert spectrum.magnitude.shape == (3, 64, 33)
    assert float(magnitude_slope(spectrum.magnitude[:1], 64, 0.03, 0.3)) < -0.7  # luminance channel is 1/f
    g = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[0.3, 0.1, 0.0], [0.25, -0.05, 0.02], [0.2, -0.1, -0.03]])
    pixels = mixing @ torch.randn(3, 64 * 64, generator=g) + 0.5
    color = estimate_color_matrix([pixels.view(3, 64, 64)], samples=64 * 64)
    torch.testing.assert_close(color @ color.T, mixing @ mixing.T, atol=2e-3, rtol=0.05)
    assert (color.gather(0, color.abs().argmax(0, keepdim=True)) > 0).all()


def test_spectrum_files_round_trip_and_bad_files_fail_clearly(tmp_path):
    spectrum = estimate_spectrum(list(pink_noise(2, 48)), size=32, crops=2, sources=["a", "b"])
    path = save_spectrum(spectrum, tmp_path / "s.npz")
    loaded = load_spectrum(path)
    assert loaded.sources == ["a", "b"] and loaded.window == "hann"
    torch.testing.assert_close(loaded.magnitude, spectrum.magnitude, rtol=2e-3, atol=1e-3)
    param = Maco(spectrum=str(path))
    param.reset(gens([0]), 20)
    assert param().shape == (1, 3, 20, 20)
    with pytest.raises(ConfigError, match="estimate_spectrum"):
        Maco(spectrum=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="shape"):
        Spectrum(magnitude=torch.ones(3, 8, 8), color=torch.eye(3))
    with pytest.raises(ValueError, match="contrast"):
        Maco(contrast=0)


@pytest.mark.slow
def test_estimate_spectrum_script_on_a_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs" / "sub"
    folder.mkdir(parents=True)
    for i, image in enumerate(pink_noise(3, 80, seed=2)):
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "mine.npz"
    result = subprocess.run(
        [sys.executable, "scripts/estimate_spectrum.py", "--folder", str(tmp_path / "imgs"), "--out", str(out),
         "--size", "32", "--crops", "2"], capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    spectrum = load_spectrum(out)
    assert spectrum.magnitude.shape == (3, 32, 17) and sorted(spectrum.sources) == ["sub/0.png", "sub/1.png", "sub/2.png"]
    bad = subprocess.run([sys.executable, "scripts/estimate_spectrum.py", "--folder", str(tmp_path / "none"),
                          "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode != 0 and "not a directory" in bad.stderr


def test_spectrum_slope_separates_noise_from_natural_statistics():
    white = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert spectrum_slope(white).abs().max() < 0.2
    assert (spectrum_slope(pink_noise(2, 64)) < -0.7).all()


def test_maco_renders_in_the_module(tmp_path, make_trainer):
    options = dict(backbone=TINY, objective=Channel("features.2"), units=[1, 4], size=32, batch_size=2, epochs=1,
                   save_outputs=False, optimizer=lambda p: torch.optim.Adam(p, lr=1.0), transforms=lucid_transforms())
    before = ActMaxModule(param=Maco(), steps_per_epoch=1, **options)
    make_trainer(max_epochs=1).fit(before)
    after = ActMaxModule(param=Maco(), steps_per_epoch=60, **options)
    make_trainer().fit(after)
    assert (after.last_finished.activations > before.last_finished.activations + 0.01).all()
    assert set(after.state_dict()) >= {"renderer.param.phase", "renderer.param.phase_scale", "renderer.param.phase_shift"}


@pytest.mark.parametrize("config", ["maco_lite0", "maco_multicrop_lite0", "fourier_lite0", "channels_redirect_lite0",
                                    "accentuate_lite0"])
@pytest.mark.slow
def test_experiment_configs_parse_and_build(config, same_transforms):
    from lit_actmax.augment import MultiCrop, Noise
    from lit_actmax.callbacks import PerUnitGradNorm, RedirectReLU, Transparency
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    cli = ActMaxCLI(args=["--config", f"configs/experiments/{config}.yaml"], run=False)
    module, callbacks = cli.model, {type(c) for c in cli.trainer.callbacks}
    if config.startswith("maco"):
        assert isinstance(module.renderer.param, Maco) and Transparency in callbacks
        optimizer = module.optimizer_factory(module.renderer.param.parameters())
        assert isinstance(optimizer, torch.optim.NAdam) and optimizer.defaults["lr"] == 1.0
    if config == "maco_multicrop_lite0":
        crop, noise = module.renderer.transforms.transforms
        assert isinstance(crop, MultiCrop) and isinstance(noise, Noise) and crop.crops == 4 and crop.end == (0.25, 0.5)
        assert PerUnitGradNorm in callbacks and module.renderer.size == (256, 256)
    if config == "channels_redirect_lite0":
        assert {RedirectReLU, PerUnitGradNorm} <= callbacks
    if config == "fourier_lite0":  # the quickstart without crops: the library's default transforms
        from lit_actmax.augment import lucid_transforms
        from lit_actmax.params import Fourier

        assert isinstance(module.renderer.param, Fourier)
        assert same_transforms(module.renderer.transforms, lucid_transforms())


@pytest.mark.parametrize("fragment", ["transparency", "redirect_relu", "grad_norm"])
@pytest.mark.slow
def test_callback_fragments_compose_with_the_quickstart(fragment):
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    cli = ActMaxCLI(args=["--config", "configs/quickstart.yaml", "--config", f"configs/callbacks/{fragment}.yaml"], run=False)
    names = {type(c).__name__ for c in cli.trainer.callbacks}
    assert {"transparency": "Transparency", "redirect_relu": "RedirectReLU", "grad_norm": "PerUnitGradNorm"}[fragment] in names


@pytest.mark.parametrize("width", [16, 15])
def test_rfft2_energy_is_the_sum_of_squares_over_pixels(width):
    x = torch.randn(2, 3, 12, width, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spectrum = torch.fft.rfft2(x, norm="ortho")
    torch.testing.assert_close(rfft2_energy(spectrum, width), x.pow(2).sum(dim=(-2, -1)))
    torch.testing.assert_close(rfft2_energy(spectrum.abs(), width), x.pow(2).sum(dim=(-2, -1)))
