"""cli/named_configs.py: the shipped configs by name, from any folder."""

from __future__ import annotations

import pytest

from lit_actmax.cli.main import main
from lit_actmax.cli.named_configs import CONFIGS_DIR, config_names, config_path, resolve_config_args
from lit_actmax.errors import ConfigError


def test_the_configs_ship_inside_the_package():
    assert CONFIGS_DIR.parent.name == "lit_actmax"
    names = config_names()
    assert {"quickstart", "presets/vit", "trainer/cpu", "trainer/cpu_2proc", "atlas/lite0", "model/lite0"} <= set(names)


def test_names_resolve_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_path("quickstart") == CONFIGS_DIR / "quickstart.yaml"
    assert config_path("presets/vit.yaml") == CONFIGS_DIR / "presets" / "vit.yaml"
    assert config_path("configs/trainer/cpu.yaml") == CONFIGS_DIR / "trainer" / "cpu.yaml"  # the README's old spelling
    (tmp_path / "quickstart").write_text("model: {size: 32}\n")  # a file of your own wins over a shipped name
    assert config_path("quickstart").resolve() == tmp_path / "quickstart"


def test_an_unknown_name_is_one_sentence_with_the_closest():
    with pytest.raises(ConfigError, match=r"'quickstrat' does not exist as a file nor as a shipped config \(closest: quickstart"):
        config_path("quickstrat")


def test_every_config_option_is_resolved_and_inline_configs_pass(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = resolve_config_args(["fit", "--config", "quickstart", "-c", "trainer/cpu", "--config=presets/vit",
                                "--config", "model: {size: 32}", "--model.size", "64"])
    assert args == ["fit", "--config", str(CONFIGS_DIR / "quickstart.yaml"), "-c", str(CONFIGS_DIR / "trainer/cpu.yaml"),
                    f"--config={CONFIGS_DIR / 'presets/vit.yaml'}", "--config", "model: {size: 32}", "--model.size", "64"]


def test_the_configs_command_lists_them(capsys):
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == config_names()
    assert any(line.startswith("quickstart ") and "8 ImageNet classes" in line for line in lines)


def test_a_wrong_name_exits_2_before_lightning_loads(capsys):
    assert main(["fit", "--config", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lit-actmax: error: --config 'nope' does not exist as a file") and err.count("\n") == 1


def test_the_accentuation_config_finds_its_image_from_any_folder(tmp_path, monkeypatch):
    """Its init_image, configs/images/chelsea_160.jpg, is relative: it resolves to the package's file in any folder."""
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    monkeypatch.chdir(tmp_path)
    args = resolve_config_args(["--config", "experiments/accentuate_lite0", "--model.backbone",
                                "lit_actmax.testing:tiny_backbone", "--model.units", "[1]", "--model.size", "32",
                                "--model.out_dir", str(tmp_path / "runs")])
    module = ActMaxCLI(args=args, run=False).model  # the renderer loads init_image: a missing file would refuse
    assert module.renderer.init_image == "configs/images/chelsea_160.jpg"
    assert sorted(p.name for p in tmp_path.iterdir()) == []
