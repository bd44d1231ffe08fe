"""Which Lightning package lit_actmax runs on in this process: ``lightning`` or ``pytorch_lightning``.

Plain Python, no Lightning import (the ``lit-actmax`` command decides before it loads either). The rules, applied once
when :mod:`lit_actmax.lightning.package` is first imported:

1. ``LIT_ACTMAX_LIGHTNING=lightning`` (or ``pytorch_lightning``), if set: ``lit-actmax fit`` sets it from the class
   paths its command line and configs name (:func:`package_named_in`), so its worker processes choose alike;
2. else the one of the two the process has already imported (``import lightning as L`` before lit_actmax);
3. else ``pytorch_lightning`` when it is installed (lit_actmax's dependency), else ``lightning``.

A LightningModule, callback or strategy of one package is refused by the other's Trainer, so a process that imports
both gets one sentence naming the fix (:func:`mixed_sentence`), never an odd failure later.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

from ..errors import ConfigError

__all__ = ["ENV_VAR", "PACKAGES", "is_imported", "is_installed", "mixed_sentence", "chosen_package", "package_named_in"]

#: The environment variable that picks the package (rule 1).
ENV_VAR = "LIT_ACTMAX_LIGHTNING"

#: Package name -> (the Trainer's package, the Fabric package) as that distribution spells them.
PACKAGES = {"pytorch_lightning": ("pytorch_lightning", "lightning_fabric"), "lightning": ("lightning.pytorch", "lightning.fabric")}

#: A class path of each package in a command line or config (``lightning.pytorch.callbacks.LearningRateMonitor``).
CLASS_PATHS = {"lightning": re.compile(r"\blightning\.(?:pytorch|fabric)\."),
               "pytorch_lightning": re.compile(r"\b(?:pytorch_lightning|lightning_fabric)\.")}


def is_imported(name: str) -> bool:
    """Whether this process has imported the package ``name`` (``"lightning"`` or ``"pytorch_lightning"``)."""
    return sys.modules.get(name) is not None


def is_installed(name: str) -> bool:
    """Whether ``name`` can be imported (a ``None`` in ``sys.modules`` blocks it, as Python's import does)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    return importlib.util.find_spec(name) is not None


def mixed_sentence(first: str = "lightning") -> str:
    """The one sentence for a process that mixes the two packages."""
    other = next(name for name in PACKAGES if name != first)
    return (f"this process imports both `{first}` and `{other}`, whose Trainers refuse each other's modules, "
            f"callbacks and strategies: import only the one your Trainer comes from (lit_actmax follows it), "
            f"or set {ENV_VAR}=lightning or {ENV_VAR}=pytorch_lightning to choose before lit_actmax loads.")


def chosen_package() -> str:
    """``"lightning"`` or ``"pytorch_lightning"``, by the rules of this module's docstring.

    Raises:
        ConfigError: an unknown or missing package in ``LIT_ACTMAX_LIGHTNING``, both packages imported, or none
            installed.
    """
    wanted = os.environ.get(ENV_VAR, "").strip()
    if wanted:
        if wanted not in PACKAGES:
            raise ConfigError(f"{ENV_VAR}={wanted!r} names no Lightning package: set it to lightning or pytorch_lightning.")
        if not is_installed(wanted):
            raise ConfigError(f"{ENV_VAR}={wanted} but `{wanted}` is not installed: pip install {wanted.replace('_', '-')}.")
        if any(is_imported(name) for name in PACKAGES if name != wanted):
            raise ConfigError(mixed_sentence(wanted))
        return wanted
    imported = [name for name in PACKAGES if is_imported(name)]
    if len(imported) == 2:
        raise ConfigError(mixed_sentence())
    if imported:
        return imported[0]
    installed = [name for name in PACKAGES if is_installed(name)]
    if not installed:
        raise ConfigError("lit_actmax needs Lightning: pip install pytorch-lightning (or lightning).")
    return installed[0]


def package_named_in(texts: list[str]) -> str | None:
    """The package whose class paths ``texts`` (command-line arguments, config files) name, or None.

    Raises:
        ConfigError: they name both.
    """
    named = [name for name, pattern in CLASS_PATHS.items() if any(pattern.search(text) for text in texts)]
    if len(named) == 2:
        raise ConfigError("the command line and its configs name classes of both `lightning.pytorch` and "
                          "`pytorch_lightning`, whose Trainers refuse each other's callbacks and loggers: spell "
                          "every class path with one of them.")
    return named[0] if named else None
