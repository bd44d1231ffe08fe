"""Run the README under one Lightning package, with the other one made unimportable (as if not installed).

    python flavor_run.py lightning|pytorch_lightning readme OUT DEVICES   the README's first Python block, shrunk
    python flavor_run.py lightning|pytorch_lightning cli ARGS...           lit-actmax ARGS...

Lightning's launcher starts the other ranks by running this same command again, so they block the same package.
The README example prints one JSON line: the Trainer's package and the modules of the blocked package (none).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

FLAVOR = sys.argv[1]
OTHER = {"lightning": ("pytorch_lightning", "lightning_fabric"), "pytorch_lightning": ("lightning",)}[FLAVOR]
for name in OTHER:
    sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError, find_spec gives None

if FLAVOR == "lightning":
    import lightning  # noqa: F401  # the user's import comes first
else:
    import pytorch_lightning  # noqa: F401

if sys.argv[2] == "cli":
    from lit_actmax.cli.main import main

    sys.exit(main(sys.argv[3:]))

out, devices = sys.argv[3], int(sys.argv[4])

# -- the README's first Python block, scaled down as tests/lightning/test_module.py does it, on the wanted package
readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
code = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
replacements = [('units="0-15"', 'units="0-3"'), ("size=128", "size=64"), ("batch_size=8", "batch_size=2"),
                ("steps_per_epoch=32", "steps_per_epoch=2"), ("epochs=4", f"epochs=1, out_dir={out!r}")]
if FLAVOR == "lightning":
    replacements.append(("import pytorch_lightning as pl", "import lightning as L\npl = L.pytorch"))
if devices > 1:
    replacements.append(('pl.Trainer(accelerator="auto",', f'pl.Trainer(accelerator="cpu", devices={devices}, '
                                                          'strategy="unit_parallel",'))
for old, new in replacements:
    assert old in code, old
    code = code.replace(old, new)
scope: dict = {}
exec(compile(code, "README.md", "exec"), scope)
trainer, module = scope["trainer"], scope["module"]
if trainer.is_global_zero:
    print(json.dumps({"trainer": type(trainer).__module__, "strategy": type(trainer.strategy).__name__,
                      "blocked_loaded": sorted(m for m in sys.modules if m.split(".")[0] in OTHER and sys.modules[m]),
                      "run_dir": str(module.run_dir), "shape": list(scope["images"].shape)}))
