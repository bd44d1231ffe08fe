"""The package root and the plain-torch core stay light: no Lightning, no torchmetrics, no import cycles."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import lit_actmax

#: Modules on the Lightning side of the package; every other module is plain torch.
LIGHTNING_SIDE = {
    "lit_actmax.module", "lit_actmax.lightning_cli", "lit_actmax.config_errors", "lit_actmax.strategy", "lit_actmax.sharding",
    "lit_actmax.resume", "lit_actmax.examples", "lit_actmax.metrics", "lit_actmax.testing_lightning",
    "lit_actmax.callbacks", "lit_actmax.__main__",
}
HEAVY = ("pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics")


def plain_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(lit_actmax.__path__, "lit_actmax.")]
    return sorted(n for n in names if not any(n == s or n.startswith(s + ".") for s in LIGHTNING_SIDE))


def loaded_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [m for m in out.split() if m.split(".")[0] in HEAVY]


def test_plain_modules_load_no_lightning_nor_torchmetrics():
    modules = plain_modules()
    assert {"lit_actmax.objectives", "lit_actmax.renderer", "lit_actmax.unit_schedule", "lit_actmax.rundir",
            "lit_actmax.params", "lit_actmax.augment", "lit_actmax.cli",
            "lit_actmax.numerics", "lit_actmax.image_stats"} <= set(modules)
    assert loaded_after("import " + ", ".join(modules)) == []


def test_the_package_root_loads_names_on_first_use():
    assert loaded_after("import lit_actmax; lit_actmax.Channel; lit_actmax.Renderer") == []
    assert "pytorch_lightning" in loaded_after("import lit_actmax; lit_actmax.ActMaxModule")


def test_every_public_name_resolves():
    for name in lit_actmax.__all__:
        assert getattr(lit_actmax, name) is not None, name


def test_the_lightning_side_registers_the_unit_parallel_strategy():
    """Whatever Lightning-side name a user imports first, ``strategy="unit_parallel"`` is known to the Trainer."""
    for statement in ("from lit_actmax import ActMaxModule", "from lit_actmax.examples import find_examples"):
        code = (f"{statement}; import pytorch_lightning as pl; "
                "t = pl.Trainer(strategy='unit_parallel', accelerator='cpu', devices=1, logger=False); "
                "print(type(t.strategy).__name__)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.split()[-1] == "UnitParallelStrategy", statement
