"""Module paths of earlier releases, kept importable after the package was split into subpackages.

Configs and checkpoints name classes by module path (``class_path: lit_actmax.regularizers.TotalVariation``,
``checkpoint_class: lit_actmax.testing_lightning.TinyClassifier``). :data:`MOVED_MODULES` maps each old path to
the module that holds its names now; :func:`install` puts a finder on ``sys.meta_path`` that answers an import of an
old path with the new module itself (the same object, so classes keep their identity), or for a module that was split
with a module that looks its names up in the new ones, and one ``DeprecationWarning`` naming the new path. The
package root installs it, so ``import lit_actmax.<old>`` works wherever ``lit_actmax`` does. Plain Python: importing
this module loads nothing else.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

__all__ = ["MOVED_MODULES", "MovedModuleFinder", "current_name", "install", "merged_module"]

#: old module path -> the module that holds its public names now (or the modules, when it was split)
MOVED_MODULES: dict[str, str | tuple[str, ...]] = {
    "lit_actmax.accentuate": ("lit_actmax.objectives.image_distance", "lit_actmax.image.io"),
    "lit_actmax.atlas": "lit_actmax.cli.atlas",
    "lit_actmax.batch_size": "lit_actmax.core.batch_size",
    "lit_actmax.checkpoint": "lit_actmax.run.checkpoint_state",
    "lit_actmax.config_errors": "lit_actmax.cli.config_errors",
    "lit_actmax.evaluate": "lit_actmax.core.evaluate",
    "lit_actmax.examples": ("lit_actmax.lightning.dataset_examples", "lit_actmax.core.dataset_scores", "lit_actmax.image.io",
                            "lit_actmax.cli.examples"),
    "lit_actmax.gallery": ("lit_actmax.html.gallery", "lit_actmax.html.records", "lit_actmax.html.curves",
                           "lit_actmax.html.markup", "lit_actmax.html.card_sorting"),
    "lit_actmax.gather": "lit_actmax.lightning.gather",
    "lit_actmax.image_ops": "lit_actmax.image.ops",
    "lit_actmax.image_stats": "lit_actmax.image.stats",
    "lit_actmax.layouts": "lit_actmax.backbones.layouts",
    "lit_actmax.library_backbones": "lit_actmax.backbones",
    "lit_actmax.lightning_cli": "lit_actmax.cli.lightning_cli",
    "lit_actmax.metrics": "lit_actmax.lightning.metrics",
    "lit_actmax.models": "lit_actmax.backbones",
    "lit_actmax.module": "lit_actmax.lightning.module",
    "lit_actmax.numerics": "lit_actmax.core.numerics",
    "lit_actmax.optim": "lit_actmax.core.optim",
    "lit_actmax.probe": "lit_actmax.backbones.probe",
    "lit_actmax.quiet": "lit_actmax.lightning.quiet",
    "lit_actmax.redirect": "lit_actmax.backbones.redirect",
    "lit_actmax.regularizers": "lit_actmax.objectives.regularizers",
    "lit_actmax.renderer": "lit_actmax.core.renderer",
    "lit_actmax.report": "lit_actmax.image.contact_sheet",
    "lit_actmax.resume": "lit_actmax.lightning.epoch_replay",
    "lit_actmax.rundir": ("lit_actmax.run.files", "lit_actmax.run.folders", "lit_actmax.run.records",
                          "lit_actmax.run.writer", "lit_actmax.image.io"),
    "lit_actmax.seeding": "lit_actmax.core.seeding",
    "lit_actmax.sharding": "lit_actmax.lightning.checkpoint_shards",
    "lit_actmax.site": ("lit_actmax.html.site", "lit_actmax.html.records", "lit_actmax.image.io"),
    "lit_actmax.spectrum": "lit_actmax.params.spectrum",
    "lit_actmax.speed": "lit_actmax.core.compile",
    "lit_actmax.strategy": "lit_actmax.lightning.strategy",
    "lit_actmax.targets": ("lit_actmax.core.layer_selection", "lit_actmax.objectives.per_layer"),
    "lit_actmax.testing_lightning": "lit_actmax.lightning.testing",
    "lit_actmax.unit_schedule": "lit_actmax.core.schedule",
    "lit_actmax.units": "lit_actmax.core.units",
}


def current_name(name: str) -> str:
    """Today's path of ``name``, a module path or a qualified name of this or an earlier release
    (``lit_actmax.optim.default_optimizer`` -> ``lit_actmax.core.optim.default_optimizer``)."""
    for old, new in MOVED_MODULES.items():
        if name == old or name.startswith(old + "."):
            if isinstance(new, str):
                return new + name[len(old):]
            attribute = name[len(old) + 1:].split(".")[0]
            for module in new:
                if attribute and hasattr(importlib.import_module(module), attribute):
                    return module + name[len(old):]
    return name


def merged_module(name: str, modules: tuple[str, ...]) -> ModuleType:
    """A module ``name`` whose attributes are looked up in ``modules``, in order (an old module that was split)."""
    merged = ModuleType(name, f"Moved: the names of {name} now live in {', '.join(modules)}.")

    def lookup(attribute: str) -> object:
        for module in modules:
            found = getattr(importlib.import_module(module), attribute, merged)
            if found is not merged:
                return found
        raise AttributeError(f"module {name!r} has no attribute {attribute!r} (it moved to {', '.join(modules)})")

    merged.__getattr__ = lookup  # type: ignore[attr-defined]
    merged.__all__ = sorted({n for m in modules for n in getattr(importlib.import_module(m), "__all__", ())})
    return merged


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``import lit_actmax.<old path>`` with the module that holds those names now."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED_MODULES[spec.name]
        where = new if isinstance(new, str) else ", ".join(new)
        warnings.warn(f"{spec.name} moved to {where}; import it from there.", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new) if isinstance(new, str) else merged_module(spec.name, new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is the new one, already executed."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (after the standard finders, which find every current module)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
