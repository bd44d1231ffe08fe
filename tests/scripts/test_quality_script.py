"""scripts/quality.py: a tiny smoke run writes the markdown tables and the image sheets."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

from lit_actmax.recipes import DEFAULT_RECIPE

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str = "quality"):
    """``scripts/<name>.py`` as a module, with ``scripts/`` on ``sys.path`` as ``python scripts/<name>.py`` has it."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_run_writes_tables_and_images(tmp_path):
    quality = load_script()
    out = tmp_path / "docs" / "quality.md"
    assert quality.main(["--quick", "--out", str(out), "--seeds", "0", "1"]) == 0
    text = out.read_text()
    assert "`python scripts/quality.py --quick --out " in text and "--seeds 0 1" in text
    assert quality.CHANNEL_TABLE in text and (Path(quality.__file__).parents[1] / "docs" / "channel_quality.md").is_file()
    rows = {m.name: line for m in quality.METHODS for line in text.splitlines() if line.startswith(f"| {m.name} |")}
    assert set(rows) == {"pixel", "pixel+crops", "fourier", "fourier+crops", "maco", "maco+crops"}
    numbers = re.findall(r"-?\d+\.\d+", rows["maco"])
    assert len(numbers) >= 5
    # class logit | top-1 | judge top-1 / top-5 | channel act. | beats pixel: 2 targets x 2 seeds, per kind
    judged = re.search(r"\| maco \| [^|]+ \| [^|]+ \| (\d\.\d\d) / (\d\.\d\d) \| [^|]+ \| \d+/4 / \d+/4 \|", rows["maco"])
    assert judged, rows["maco"]
    assert 0 <= float(judged[1]) <= float(judged[2]) <= 1  # a top-1 hit is also a top-5 hit
    assert "tiny judge top-1 / top-5 rate" in text and "(an independent model" in text
    assert "## B." in text and "| 2 | class_2 |" in text and re.search(r"\*\*\d+% of the panel passes\*\*", text)
    for name in ("quality_pixel.png", "quality_pixel_crops.png", "quality_fourier.png", "quality_fourier_crops.png",
                 "quality_maco.png", "quality_maco_crops.png", "quality_panel.png"):
        assert (out.parent / name).stat().st_size > 100


@pytest.mark.slow
def test_without_a_judge_the_transfer_column_is_left_out(tmp_path):
    quality = load_script()
    out = tmp_path / "quality.md"
    assert quality.main(["--quick", "--out", str(out), "--seeds", "0", "--skip-panel", "--judge", "none"]) == 0
    text = out.read_text()
    assert "top-1 / top-5 rate" not in text and "*Transfer*" not in text
    maco = next(line for line in text.splitlines() if line.startswith("| maco |"))
    assert re.search(r"\| maco \| [^|]+ \| [^|]+ \| [^|]+ \| \d+/2 / \d+/2 \|", maco), maco
    assert "## B." not in text


@pytest.mark.slow
def test_the_panel_can_be_rendered_by_several_methods(tmp_path):
    quality = load_script()
    out = tmp_path / "quality.md"
    assert quality.main(["--quick", "--out", str(out), "--seeds", "0", "--panel-methods", DEFAULT_RECIPE.name,
                         "maco+crops"]) == 0
    text = out.read_text()
    assert "## B. The default method on 2 classes" in text and "## B2. maco+crops on the same 2 classes" in text
    assert text.count("| 5 | class_5 |") == 2
    assert (tmp_path / "quality_panel.png").is_file() and (tmp_path / "quality_panel_maco_crops.png").is_file()


def test_naturalness_statistics():
    quality = load_script()
    flat = torch.full((1, 3, 16, 16), 0.5)
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert float(quality.total_variation(flat)) == 0.0
    assert float(quality.total_variation(noise)) > 0.5
    assert len(quality.PANEL) == 20 and len({c for c, _ in quality.PANEL}) == 20


@pytest.mark.slow
def test_maco_sweep_quick_run_prints_a_row_per_variant(capsys, tmp_path):
    sweep = load_script("maco_sweep")
    out = tmp_path / "sweep.md"
    assert sweep.main(["--quick", "--out", str(out)]) == 0
    assert sweep.main(["--quick", "--only", "pixel", "--out", str(out)]) == 0
    assert out.read_text().count("`python scripts/maco_sweep.py --quick") == 2
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    rows = rows[:14]  # the first run's table
    names = [row.split(" | ")[0][2:] for row in rows[1:]]
    assert names[:3] == ["pixel", "fourier", "maco"] and "maco + mean colour" in names and len(names) == 13
    assert rows[-1].startswith("| maco, reference start | NAdam 1 |") and "| Adam 0.05 |" in rows[1]
    assert "| maco, Adam 0.5 | Adam 0.5 |" in "\n".join(rows)
    assert all(len(re.findall(r"-?\d+\.\d+", row)) >= 3 for row in rows[1:])


def test_maco_sweep_only_takes_exact_names_or_prefixes():
    sweep = load_script("maco_sweep")
    assert sweep.selected("maco", ["maco"]) and not sweep.selected("maco lr 0.1", ["maco"])
    assert sweep.selected("maco lr 0.1", ["maco*"]) and sweep.selected("maco", ["maco*"])
    assert sweep.selected("pixel", ["fourier", "pixel"]) and not sweep.selected("fourier", ["pixel"])


def test_maco_reference_start_keeps_the_phase_at_unit_deviation_and_the_magnitude_exact():
    sweep = load_script("maco_sweep")
    param = sweep.MacoReferenceStart()
    param.reset([torch.Generator().manual_seed(s) for s in (0, 1)], 16)
    phase = param.phases()
    interior = phase[..., 1:-1]  # columns that the Hermitian constraint leaves as they are
    assert torch.allclose(interior.std(dim=(1, 2, 3)), torch.ones(2), atol=0.05)
    image = param.decorrelated()
    assert torch.allclose(torch.fft.rfft2(image, norm="ortho").abs(), param.magnitude.expand(2, -1, -1, -1), atol=1e-4)


def test_phase_swap_keeps_the_half_it_promises():
    swap = load_script("phase_swap")
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.4  # no saturation
    nearest, shape, scrambled = swap.swapped(images, seed=0)
    maco = swap.Maco()
    maco.set_image(images)
    own = maco.spectrum_of(images)
    for version in (nearest, shape, scrambled):
        assert version.shape == images.shape and not torch.allclose(version, images, atol=1e-3)
    # own phase + MACO shape: magnitude proportional to MACO's (DC aside), phase and mean colour its own
    spectrum = maco.spectrum_of(shape)
    ratio = (spectrum.abs() / maco.magnitude.clamp(min=1e-12))[..., 1:, 1:]
    assert torch.allclose(ratio, ratio[:, :1, :1, :1].expand_as(ratio), rtol=1e-3)
    assert torch.allclose(spectrum[..., 0, 0], own[..., 0, 0], atol=1e-4)
    assert torch.allclose(torch.angle(spectrum)[..., 1:, 1:-1], torch.angle(own)[..., 1:, 1:-1], atol=1e-3)
    # own magnitude + random phase: the amplitude spectrum stays
    assert torch.allclose(maco.spectrum_of(scrambled).abs(), own.abs(), atol=1e-3)


def test_phase_swap_quick_run_writes_a_row_per_group(tmp_path):
    swap = load_script("phase_swap")
    out = tmp_path / "swap.md"
    assert swap.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "`python scripts/phase_swap.py --quick" in text and "| own magnitude, random phase |" in text
    rows = [line for line in text.splitlines() if line.startswith("| tiny ")]
    assert len(rows) == 2 and all(len(re.findall(r"-?\d+\.\d+", row)) >= 4 for row in rows)  # ratios when > 0
