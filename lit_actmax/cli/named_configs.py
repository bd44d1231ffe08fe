"""The configs that ship inside the package, addressed by name: ``--config quickstart``, ``--config presets/vit``.

They live in ``lit_actmax/configs/`` (in the wheel too; the repository's ``configs/`` points there), so the README's
commands work from any folder once the package is installed. ``--config NAME`` reads ``NAME`` as a file when one
exists there (a config of your own wins), else as a shipped config (``.yaml`` may be left out);
``lit-actmax configs`` lists them. Plain Python: resolving names loads neither torch nor Lightning.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError

__all__ = ["CONFIGS_DIR", "config_names", "config_path", "resolve_config_args", "configs_command"]

#: The folder of the shipped configs.
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"


def config_names() -> list[str]:
    """Every shipped config by name (``quickstart``, ``presets/vit``, ``trainer/cpu``, ...), sorted."""
    return sorted(p.relative_to(CONFIGS_DIR).with_suffix("").as_posix() for p in CONFIGS_DIR.rglob("*.yaml"))


def config_path(name: str) -> Path:
    """The file a ``--config`` value names: the file itself if it exists, else the shipped config of that name.

    Raises:
        ConfigError: neither a file nor a shipped config; the sentence names the closest shipped ones.
    """
    given = Path(name).expanduser()
    if given.is_file():
        return given
    stem = name[:-5] if name.endswith(".yaml") else name
    for candidate in (stem, stem.removeprefix("configs/")):  # the README's configs/<name>.yaml of the repository
        shipped = CONFIGS_DIR / f"{candidate}.yaml"
        if shipped.is_file():
            return shipped
    close = difflib.get_close_matches(stem.removeprefix("configs/"), config_names(), n=3, cutoff=0.5)
    hint = f" (closest: {', '.join(close)})" if close else ""
    raise ConfigError(f"--config {name!r} does not exist as a file nor as a shipped config{hint}; `lit-actmax configs` "
                      "lists the shipped ones.")


def is_inline(value: str) -> bool:
    """Whether a ``--config`` value is the config itself (jsonargparse takes YAML text too), not a file or name."""
    return "\n" in value or value.lstrip().startswith(("{", "[")) or ": " in value


def resolve_config_args(argv: Sequence[str]) -> list[str]:
    """``argv`` with every ``--config NAME`` / ``--config=NAME`` value replaced by the file it names."""
    out: list[str] = []
    expects_config = False
    for arg in argv:
        if expects_config:
            out.append(arg if is_inline(arg) else str(config_path(arg)))
            expects_config = False
        elif arg in ("--config", "-c"):
            out.append(arg)
            expects_config = True
        elif arg.startswith("--config="):
            value = arg.split("=", 1)[1]
            out.append(arg if is_inline(value) else "--config=" + str(config_path(value)))
        else:
            out.append(arg)
    return out


def configs_command(argv: Sequence[str]) -> int:
    """``lit-actmax configs``: list the shipped configs (``--path``: with their files)."""
    import argparse

    parser = argparse.ArgumentParser(prog="lit-actmax configs",
                                     description="List the configs that ship with lit_actmax (use: --config NAME).")
    parser.add_argument("--path", action="store_true", help="print each config's file too")
    args = parser.parse_args(list(argv))
    for name in config_names():
        first = (CONFIGS_DIR / f"{name}.yaml").read_text().splitlines()[:1]
        about = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
        about = about if len(about) <= 80 else about[:77].rstrip() + "..."
        line = f"{name:<34} {about}" if not args.path else f"{name:<34} {CONFIGS_DIR / f'{name}.yaml'}"
        print(line.rstrip())
    return 0
