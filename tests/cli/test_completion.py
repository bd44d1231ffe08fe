"""cli/completion.py: a small completion script that covers every subcommand."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lit_actmax.cli.main import main


def completion(capsys, shell: str = "bash") -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def test_every_subcommand_completes_with_its_options(capsys):
    script = completion(capsys)
    assert len(script) < 20_000
    for sub, option in [("fit", "--model.units"), ("fit", "--help-all"), ("atlas", "--trainer.devices"),
                        ("layers", "--size"), ("site", "--out"), ("examples", "--images"), ("configs", "--path"),
                        ("gallery", "--help"), ("completion", "bash")]:
        case = next(line for line in script.splitlines() if line.strip().startswith(f"{sub})"))
        assert option in case.split('"')[1].split(), (sub, option)
    assert "presets/vit" in script and "quickstart" in script  # --config completes the shipped names


def test_an_unknown_shell_is_one_sentence(capsys):
    assert main(["completion", "fish"]) == 2
    assert capsys.readouterr().err == "lit-actmax: error: completion for 'fish' is not available; use bash or zsh.\n"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_subcommands_options_and_config_names(capsys, tmp_path):
    script = tmp_path / "complete.sh"
    script.write_text(completion(capsys))

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (f'source {script}; COMP_WORDS=(lit-actmax {line}); COMP_CWORD={len(words)}; '
                 '_lit_actmax; printf "%s\\n" "${COMPREPLY[@]}"')
        return subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split()

    assert set(complete("")) >= {"fit", "atlas", "layers", "gallery", "site", "examples", "configs", "completion"}
    assert "--model.units" in complete("fit", "--model.u")
    assert complete("fit", "--config", "presets/") == ["presets/vit"]
    assert complete("layers", "--si") == ["--size"]
