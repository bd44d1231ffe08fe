"""scripts/startup_time.py: times the installed command line and prints a side-by-side table."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "startup_time.py"
EXE = Path(sys.executable).parent / "lit-actmax"


@pytest.mark.slow
def test_table_has_a_median_and_a_ratio_per_command():
    args = ["--exe", f"a={EXE}", "--exe", f"b={EXE}", "--runs", "1"]
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `lit-actmax")]
    assert [row.split("|")[1].strip() for row in rows] == ["`lit-actmax --help`", "`lit-actmax layers lite0`"]
    for row in rows:
        seconds = [float(s) for s in re.findall(r"(\d+\.\d+) \(", row)]
        assert len(seconds) == 2 and all(0 < s < 120 for s in seconds)
        assert re.search(r"\| \d+% \|$", row)


def test_a_missing_executable_is_refused_before_timing():
    result = subprocess.run([sys.executable, str(SCRIPT), "--exe", "x=/no/such/lit-actmax"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2 and "no such file" in result.stderr
