"""``PinnedNumerics``: every process of a fit runs with the run's numerics, gets its own back, and index.json says
which; a resume with other numerics is refused; on lite0 with the quickstart's transforms, 1 and 2 processes give
the same images bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax.callbacks import PinnedNumerics
from lit_actmax.core.numerics import Numerics, NumericsState, auto_threads
from lit_actmax.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "dist_helpers" / "quickstart_images.py"


class SeeNumerics(pl.Callback):
    """The thread count and deterministic flag of each training step; optionally fail at a step."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.seen: list[tuple[int, bool]] = []
        self.fail_at = fail_at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.append((torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()))
        if trainer.global_step == self.fail_at:
            raise RuntimeError("stop here")


@pytest.fixture
def one_thread():
    """The process runs 1 thread, so the pinned default (2) is seen to be applied and given back."""
    before = NumericsState.capture()
    torch.set_num_threads(1)
    yield NumericsState.capture()
    before.restore()


def test_a_fit_runs_pinned_and_gives_the_process_back(tiny_module, make_trainer, tmp_path, one_thread):
    seen = SeeNumerics()
    module = tiny_module(save_outputs=True, out_dir=str(tmp_path / "runs"))
    make_trainer(callbacks=[seen]).fit(module)
    assert set(seen.seen) == {(auto_threads(), True)}  # "auto": 2 or 4 by the cores of the process
    assert NumericsState.capture() == one_thread
    index = json.loads(next((tmp_path / "runs").rglob("index.json")).read_text())
    assert index["numerics"]["config"] == {"threads": "auto", "deterministic": True, "matmul_precision": "highest"}
    effective = index["numerics"]["effective"]
    assert effective["threads"] == auto_threads() and effective["deterministic"]
    assert effective["cores_available"] >= 1 and "omp_wait_policy" in effective
    assert index["config"]["numerics"] == index["numerics"]["config"]


def test_a_failed_fit_gives_the_process_back(tiny_module, make_trainer, one_thread):
    seen = SeeNumerics(fail_at=1)
    with pytest.raises(RuntimeError, match="stop here"):
        make_trainer(callbacks=[seen]).fit(tiny_module(numerics=Numerics(threads=3, matmul_precision="medium")))
    assert seen.seen == [(3, True), (3, True)]
    assert NumericsState.capture() == one_thread


def test_numerics_none_pins_nothing_and_says_so(tiny_module, make_trainer, tmp_path, one_thread):
    seen = SeeNumerics()
    make_trainer(callbacks=[seen]).fit(tiny_module(numerics=None, save_outputs=True, out_dir=str(tmp_path / "runs")))
    assert set(seen.seen) == {(1, False)}  # the process's own thread count
    index = json.loads(next((tmp_path / "runs").rglob("index.json")).read_text())
    assert index["numerics"]["config"] is None and index["numerics"]["effective"]["threads"] == 1


def test_the_module_adds_the_callback_with_its_numerics(tiny_module):
    numerics = Numerics(threads=2)
    added = [c for c in tiny_module(numerics=numerics).configure_callbacks() if isinstance(c, PinnedNumerics)]
    assert [c.numerics for c in added] == [numerics]


def test_bad_numerics_are_refused_before_a_run_folder_exists(tiny_module, tmp_path):
    with pytest.raises(ConfigError, match=r"^numerics.threads must be a whole number of at least 1, .*, not 0\.$"):
        tiny_module(numerics=Numerics(threads=0), save_outputs=True, out_dir=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_resume_with_other_numerics_is_refused(tiny_module, make_trainer, tmp_path, one_thread):
    trainer = make_trainer(max_steps=1)
    trainer.fit(tiny_module())
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    assert torch.load(tmp_path / "a.ckpt", weights_only=True)["hyper_parameters"]["numerics"]["threads"] == "auto"
    with pytest.raises(ConfigError, match=r"other settings: numerics \{threads: 'auto', .*\(now \{threads: 3, "):
        make_trainer().fit(tiny_module(numerics=Numerics(threads=3)), ckpt_path=str(tmp_path / "a.ckpt"))
    with pytest.raises(ConfigError, match=r"other settings: numerics \{threads: 'auto', .*\(now None\)"):
        make_trainer().fit(tiny_module(numerics=None), ckpt_path=str(tmp_path / "a.ckpt"))
    make_trainer().fit(tiny_module(), ckpt_path=str(tmp_path / "a.ckpt"))  # the same numerics resume
    make_trainer().fit(tiny_module(numerics=Numerics(threads=4)), ckpt_path=str(tmp_path / "a.ckpt"))  # same images
    assert NumericsState.capture() == one_thread


# -- lite0 with the quickstart's transforms (64 px, 24 steps) ---------------------------------------------------
SMALL = ["--model.size", "64", "--model.steps_per_epoch", "8", "--model.epochs", "3"]


def quickstart_images(out, *args: str) -> dict[int, torch.Tensor]:
    out.mkdir(parents=True)
    result = subprocess.run([sys.executable, str(HELPER), str(out), *SMALL, *args], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return {u: img for p in sorted(out.glob("rank*.pt")) for u, img in torch.load(p)["images"].items()}


def largest_difference(a: dict[int, torch.Tensor], b: dict[int, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[u] - b[u]).abs().max().item() for u in a)


QUICKSTART_CLASSES = ["--model.units", "[130,1,9,207,309,417,504,947]"]


@pytest.mark.slow
def test_lite0_quickstart_on_one_and_two_processes_gives_the_same_images(tmp_path):
    """Pinned (the default): the quickstart (8 classes, batch 8: one group of 8 on 1 process, one of 4 on each of 2)
    gives the same images bit for bit on 2 CPU processes as on 1, and unpinned it does not (Lightning then gives each
    of the 2 processes 1 thread, another code path of lite0's kernels)."""
    one = quickstart_images(tmp_path / "one", *QUICKSTART_CLASSES)
    two = quickstart_images(tmp_path / "two", *QUICKSTART_CLASSES, "--trainer.devices", "2", "--trainer.strategy",
                            "unit_parallel")
    assert len(one) == 8 and all(torch.equal(one[u], two[u]) for u in one), largest_difference(one, two)
    loose = quickstart_images(tmp_path / "loose", *QUICKSTART_CLASSES, "--trainer.devices", "2", "--trainer.strategy",
                              "unit_parallel", "--model.numerics", "null")
    assert largest_difference(one, loose) > 0  # what pinning buys; if this fails, torch made the paths agree


@pytest.mark.slow
def test_lite0_images_do_not_depend_on_the_images_per_group(tmp_path):
    """Pinned: batch 8 (one group) and batch 3 (groups of 3, 3 and 2) give the same images on one process."""
    eight = quickstart_images(tmp_path / "eight", *QUICKSTART_CLASSES)
    three = quickstart_images(tmp_path / "three", *QUICKSTART_CLASSES, "--model.batch_size", "3")
    assert all(torch.equal(eight[u], three[u]) for u in eight), largest_difference(eight, three)
