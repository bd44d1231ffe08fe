"""What ``lit-actmax fit`` and ``atlas`` do to their arguments before LightningCLI sees them (plain Python).

- ``--config NAME`` of a shipped config becomes its file (:mod:`lit_actmax.cli.named_configs`);
- the Lightning package the arguments and their config files name (``lightning.pytorch.callbacks.X`` or
  ``pytorch_lightning.callbacks.X``) becomes the one lit_actmax loads, through ``LIT_ACTMAX_LIGHTNING``, which the
  command's worker processes inherit (:mod:`lit_actmax.lightning.package_choice`); naming both is one sentence.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ConfigError
from ..lightning.package_choice import ENV_VAR, package_named_in
from .named_configs import resolve_config_args

__all__ = ["prepare_fit_args", "config_files", "environment_kept"]


def config_files(argv: Sequence[str]) -> list[Path]:
    """The files of the ``--config`` options in ``argv`` (names already resolved)."""
    values = [b for a, b in zip(argv, argv[1:]) if a in ("--config", "-c")]
    values += [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    return [Path(v) for v in values if Path(v).is_file()]


def prepare_fit_args(argv: Sequence[str]) -> list[str]:
    """``argv`` with shipped config names resolved; sets ``LIT_ACTMAX_LIGHTNING`` to the package they name.

    Raises:
        ConfigError: an unknown config name, both packages named, or a package other than ``LIT_ACTMAX_LIGHTNING``'s.
    """
    args = resolve_config_args(argv)
    texts = [*args, *(path.read_text(errors="replace") for path in config_files(args))]
    named = package_named_in(texts)
    if named is not None:
        chosen = os.environ.get(ENV_VAR, "").strip()
        if chosen and chosen != named:
            raise ConfigError(f"the command line names `{named}` classes but {ENV_VAR}={chosen}: spell every class "
                              f"path with `{chosen}`, or unset {ENV_VAR}.")
        os.environ[ENV_VAR] = named
    return args


@contextmanager
def environment_kept() -> Iterator[None]:
    """Puts ``LIT_ACTMAX_LIGHTNING`` back as it was on exit: ``main([...])`` called in a notebook or a test leaves the
    caller's environment (and so its later subprocesses) as it found it; worker ranks started inside still inherit it."""
    before = os.environ.get(ENV_VAR)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before
