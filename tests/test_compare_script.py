"""scripts/compare.py: a quick run renders every method (peers when importable) and writes the table and sheets."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_compare():
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("compare_script", ROOT / "scripts" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_classes_are_drawn_with_the_seed_not_picked():
    compare = load_compare()
    assert compare.draw_classes(5, 0, 1000) == compare.draw_classes(5, 0, 1000)
    assert compare.draw_classes(5, 0, 1000) != compare.draw_classes(5, 1, 1000)
    assert len(set(compare.draw_classes(10, 3, 10))) == 10


@pytest.mark.slow
def test_quick_run_writes_the_table_and_a_sheet_per_method(tmp_path):
    compare = load_compare()
    missing = compare.peers_available()
    if missing:
        pytest.skip("peers not importable (pip install '.[compare]' or into .peers/): " + "; ".join(
            f"{k}: {v}" for k, v in missing.items()))
    out = tmp_path / "docs" / "compare.md"
    assert compare.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "`python scripts/compare.py --quick --out " in text
    names = [m.name for m in compare.renderers()]
    assert {"lit_actmax default", "lucent", "torch-dreams"} <= set(names)
    for name in names:
        assert any(line.startswith(f"| {name} |") for line in text.splitlines()), name
        assert (out.parent / compare.quality.sheet_name("compare", name.replace(" ", "_"))).is_file(), name
