"""scripts/compare.py: a quick run renders every method (peers when importable) and writes the table and sheets."""

import importlib.util
import sys
from pathlib import Path

import pytest

from lit_actmax.recipes import DEFAULT_RECIPE

ROOT = Path(__file__).resolve().parents[2]


def load_compare():
    """scripts/compare.py as a module, with ``scripts/`` on ``sys.path`` as ``python scripts/compare.py`` has it."""
    if str(ROOT / "scripts") not in sys.path:
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
def test_a_quick_run_without_peers_times_budgets_and_writes_the_panel_section(tmp_path):
    """lit_actmax's side alone (CI has no peers): the table, the time-to-picture table, the per-class table, and the
    panel section in another document, which scripts/quality.py keeps when it rewrites that document."""
    compare = load_compare()
    out, panel = tmp_path / "docs" / "compare.md", tmp_path / "docs" / "quality.md"
    panel.parent.mkdir(parents=True)
    panel.write_text("# Quality benchmark\n\nearlier text\n")
    assert compare.main(["--quick", "--no-peers", "--methods", "pixel", DEFAULT_RECIPE.name, "--budgets", "2", "4",
                         "--out", str(out), "--panel-into", str(panel)]) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| lit_actmax default |")]
    assert len(rows) == 3  # main table, timing table, time-to-picture table
    assert "| 2 steps: s / unit; recognized | 4 steps: s / unit; recognized | 8 steps" in text
    assert "## Per class: lit_actmax default" in text
    section = panel.read_text()
    assert section.startswith("# Quality benchmark\n\nearlier text") and compare.quality.PANEL_START in section
    assert "## B3. The default method on 2 random classes at 64 px" in section
    assert "(compare_lit_actmax_default.png)" in section  # same folder: a plain link
    assert compare.quality.kept_panel(panel).endswith(compare.quality.PANEL_END)
    compare.write_panel_section(panel, "replaced")  # a second run replaces the section instead of adding one
    assert panel.read_text().count(compare.quality.PANEL_START) == 1 and "replaced" in panel.read_text()
    with pytest.raises(SystemExit, match="unknown method"):
        compare.renderers(names=["fourier", "lucidity"])


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
        assert (out.parent / compare.quality.sheet_name(out.stem, name.replace(" ", "_"))).is_file(), name
