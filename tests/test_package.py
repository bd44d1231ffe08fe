"""The layout is the architecture: plain torch outside the Lightning-side folders, no import cycles, small files."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import lit_actmax

PACKAGE = Path(lit_actmax.__file__).parent
#: The folders (and modules) of the Lightning side; every other module of the package is plain torch.
LIGHTNING_SIDE = ("lit_actmax.lightning", "lit_actmax.callbacks", "lit_actmax.cli", "lit_actmax.__main__")
HEAVY = ("pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics")
MAX_LINES = 500
MODULE_MAX_LINES = 250


def on_lightning_side(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in LIGHTNING_SIDE)


def all_modules() -> dict[str, Path]:
    """Every module of the package -> its file."""
    found = {"lit_actmax": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages(lit_actmax.__path__, "lit_actmax."):
        path = PACKAGE.joinpath(*info.name.split(".")[1:])
        found[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return found


def plain_modules() -> list[str]:
    return sorted(n for n in all_modules() if not on_lightning_side(n))


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(module: str, path: Path, *, module_level: bool) -> list[str]:
    """Absolute names of what ``module`` imports: at module level only (outside ``if TYPE_CHECKING:``, function and
    class bodies; what runs when it is imported) or everywhere (``module_level=False``)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                found.append(base)
                found.extend(f"{base}.{alias.name}" for alias in node.names)  # submodules; names are dropped below
            elif isinstance(node, ast.If) and is_type_checking(node):
                if not module_level:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not module_level:
                    visit(node.body)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    block = getattr(node, field, None)
                    if isinstance(block, list):
                        visit([b for b in block if isinstance(b, ast.stmt)] +
                              [s for h in block if isinstance(h, ast.ExceptHandler) for s in h.body])

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules that importing it executes first (module-level imports, with the packages an
    import passes through, but not the packages the importer itself sits in: those are already being imported)."""
    modules = all_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for target in imported_names(name, path, module_level=True):
            if target not in modules:
                continue
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                step = ".".join(parts[:i])
                if step in modules and step != name and not name.startswith(step + "."):
                    edges.add(step)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def loaded_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [m for m in out.split() if m.split(".")[0] in HEAVY]


def test_no_import_cycle_at_module_level():
    graph = import_graph()
    assert len(graph) > 60 and graph["lit_actmax.core.renderer"]  # the walk found the package and its imports
    assert cycles(graph) == []


def test_the_cycle_walk_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_lightning_side_folders_import_lightning_or_torchmetrics():
    """Checked on the source, every import (deferred ones and those for type checkers included)."""
    offenders = {name: heavy for name, path in all_modules().items() if not on_lightning_side(name)
                 for heavy in imported_names(name, path, module_level=False) if heavy.split(".")[0] in HEAVY}
    assert offenders == {}
    module = all_modules()["lit_actmax.lightning.module"]  # Lightning comes through lit_actmax.lightning.package
    assert "lit_actmax.lightning.package" in imported_names("lit_actmax.lightning.module", module, module_level=True)


def test_plain_modules_load_no_lightning_nor_torchmetrics():
    modules = plain_modules()
    assert {"lit_actmax.objectives", "lit_actmax.core.renderer", "lit_actmax.core.schedule", "lit_actmax.run.writer",
            "lit_actmax.params", "lit_actmax.augment", "lit_actmax.core.numerics", "lit_actmax.image.stats",
            "lit_actmax.html.site", "lit_actmax.backbones.registry"} <= set(modules)
    assert loaded_after("import " + ", ".join(modules)) == []
    assert loaded_after("import lit_actmax.cli.main") == []  # `lit-actmax --help` stays light


def test_files_are_small():
    lines = {str(path.relative_to(PACKAGE)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in lines.items() if n > MAX_LINES} == {}
    assert lines["lightning/module.py"] < MODULE_MAX_LINES


def test_the_package_root_loads_names_on_first_use():
    assert loaded_after("import lit_actmax; lit_actmax.Channel; lit_actmax.Renderer") == []
    assert "pytorch_lightning" in loaded_after("import lit_actmax; lit_actmax.ActMaxModule")


def test_every_public_name_resolves():
    for name in lit_actmax.__all__:
        assert getattr(lit_actmax, name) is not None, name


def test_the_lightning_side_registers_the_unit_parallel_strategy():
    """Whatever Lightning-side name a user imports first, ``strategy="unit_parallel"`` is known to the Trainer."""
    for statement in ("from lit_actmax import ActMaxModule",
                      "from lit_actmax.lightning.dataset_examples import find_examples"):
        code = (f"{statement}; import pytorch_lightning as pl; "
                "t = pl.Trainer(strategy='unit_parallel', accelerator='cpu', devices=1, logger=False); "
                "print(type(t.strategy).__name__)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.split()[-1] == "UnitParallelStrategy", statement
