"""``lit_actmax.core.numerics``: pinning a process's numerics and giving them back; plain torch, no Trainer."""

from __future__ import annotations

import json
import os

import pytest
import torch

from lit_actmax import ClassLogit, Renderer, UnitSchedule
from lit_actmax.backbones import load_backbone
from lit_actmax.core import numerics as numerics_module
from lit_actmax.core.numerics import (
    CUBLAS_WORKSPACE,
    PINNED,
    REPRODUCIBLE_THREADS,
    Numerics,
    NumericsState,
    auto_threads,
    available_cores,
    current_numerics,
    same_images_numerics,
)
from lit_actmax.core.schedule import UnitImage
from lit_actmax.errors import ConfigError
from lit_actmax.run.checkpoint_state import fingerprint_differences

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.fixture
def clean_process():
    """The test's process settings before, given back after (whatever the test did)."""
    before = NumericsState.capture()
    yield before
    before.restore()


def test_apply_pins_every_setting_and_restore_gives_them_back(clean_process, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.set_num_threads(1)
    torch.set_float32_matmul_precision("medium")
    torch.backends.cudnn.benchmark = True
    torch.utils.deterministic.fill_uninitialized_memory = True
    before = NumericsState.capture()
    state = PINNED.apply()
    assert state == before
    now = current_numerics()
    assert now["threads"] == 2 and now["deterministic"] and now["cudnn_deterministic"]
    assert not now["cudnn_benchmark"] and not now["cudnn_allow_tf32"] and not now["cuda_matmul_allow_tf32"]
    assert now["matmul_precision"] == "highest" and os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    assert torch.is_deterministic_algorithms_warn_only_enabled()  # an op without a deterministic kernel only warns
    assert now["fill_uninitialized_memory"] is False  # deterministic mode's NaN fill of every new tensor is off
    state.restore()
    assert NumericsState.capture() == before and "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_pinned_block_gives_settings_back_on_an_exception(clean_process):
    torch.set_num_threads(2)
    before = NumericsState.capture()
    with pytest.raises(RuntimeError, match="inside"), Numerics(threads=1, matmul_precision="high").pinned():
        assert torch.get_num_threads() == 1 and torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cudnn.allow_tf32
        raise RuntimeError("inside")
    assert NumericsState.capture() == before


def test_none_and_false_leave_settings_as_they_are(clean_process):
    torch.set_num_threads(2)
    torch.set_float32_matmul_precision("high")
    before = NumericsState.capture()
    with Numerics(threads=None, deterministic=False, matmul_precision=None).pinned():
        assert NumericsState.capture() == before


def test_a_workspace_config_of_the_environment_is_kept(clean_process, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with PINNED.pinned():
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


@pytest.mark.parametrize("settings, says", [
    ({"threads": 0}, "numerics.threads must be a whole number of at least 1"),
    ({"threads": True}, "numerics.threads must be a whole number"),
    ({"threads": 1.5}, "numerics.threads must be a whole number"),
    ({"threads": "all"}, "numerics.threads must be a whole number of at least 1, \"auto\""),
    ({"matmul_precision": "fast"}, "numerics.matmul_precision must be one of highest, high, medium"),
])
def test_bad_values_are_one_sentence_before_anything_changes(clean_process, settings, says):
    before = NumericsState.capture()
    numerics = Numerics(**settings)
    for attempt in (numerics.check, numerics.apply):
        with pytest.raises(ConfigError, match=f"^{says}.*\\.$"):
            attempt()
    assert NumericsState.capture() == before


def test_describe_and_current_are_json():
    assert PINNED.describe() == {"threads": "auto", "deterministic": True, "matmul_precision": "highest"}
    now = json.loads(json.dumps(current_numerics()))
    assert now["torch"] == torch.__version__ and now["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert now["cores_available"] == available_cores() and "omp_wait_policy" in now


# -- "auto" threads: the cores of the process, among the counts that give the same images -------------------------
@pytest.mark.parametrize("cores, processes, threads", [(1, 1, 2), (2, 1, 2), (3, 1, 2), (4, 1, 4), (64, 1, 4),
                                                       (64, 16, 4), (64, 32, 2), (8, 2, 4), (8, 4, 2)])
def test_auto_threads_take_the_largest_reproducible_count_of_the_process_share(monkeypatch, cores, processes, threads):
    monkeypatch.setattr(numerics_module, "available_cores", lambda: cores)
    assert auto_threads(processes) == threads == Numerics().threads_for(processes)
    assert Numerics(threads=3).threads_for(processes) == 3 and Numerics(threads=None).threads_for(processes) is None


@pytest.mark.parametrize("cpu_max, cap", [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1), ("x", None)])
def test_available_cores_are_capped_by_the_container_quota(tmp_path, monkeypatch, cpu_max, cap):
    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    monkeypatch.setattr(numerics_module, "CGROUP_CPU_MAX", tmp_path / "cpu.max")
    assert available_cores() == (affinity if cap is None else min(affinity, cap))
    monkeypatch.setattr(numerics_module, "CGROUP_CPU_MAX", tmp_path / "absent")
    assert available_cores() == affinity


def test_the_reproducible_thread_counts_compare_as_the_same_setting():
    """A folder or checkpoint of an earlier release (threads: 2) continues under "auto" and on a machine where "auto"
    takes 4; a count outside REPRODUCIBLE_THREADS is another setting."""
    saved = {"numerics": {"threads": 2, "deterministic": True, "matmul_precision": "highest"}}
    assert fingerprint_differences(saved, {"numerics": PINNED.describe()}) == []
    assert fingerprint_differences(saved, {"numerics": Numerics(threads=4).describe()}) == []
    assert [key for key, _, _ in fingerprint_differences(saved, {"numerics": Numerics(threads=8).describe()})] == [
        "numerics"]
    described = "Numerics(threads=4, deterministic=True, matmul_precision='highest')"
    assert same_images_numerics(described) == "Numerics(threads='auto', deterministic=True, matmul_precision='highest')"
    assert same_images_numerics(described.replace("=4", "=40")) == described.replace("=4", "=40")


def render_at_threads(backbone, threads: int, units: list[int], size: int, steps: int) -> torch.Tensor:
    """The default method's final images (N, 3, size, size) of ``units`` (one group) at ``threads`` intra-op threads."""
    renderer = Renderer(backbone, size=size, steps=steps)
    renderer.validate([0])
    renderer.attach()
    try:
        with Numerics(threads=threads).pinned():
            renderer.start([UnitImage(unit, 0, True) for unit in units])
            return renderer.optimize(steps)[0]
    finally:
        renderer.detach()


@pytest.mark.parametrize("units", [[3], [0, 1, 2]])
def test_the_reproducible_thread_counts_give_the_same_images_on_the_tiny_backbone(clean_process, units):
    """README's promise: every count of REPRODUCIBLE_THREADS gives the same images (the tiny backbone's oneDNN kernels
    differ at 3 threads for groups below 3 images; 3 is not promised)."""
    backbone = load_backbone(TINY)
    images = [render_at_threads(backbone, threads, units, 64, 24) for threads in REPRODUCIBLE_THREADS]
    assert all(torch.equal(images[0], other) for other in images[1:])


@pytest.mark.slow
def test_the_reproducible_thread_counts_give_the_same_images_on_lite0(clean_process, lite0):
    """On lite0: a lone image at 224 px (above 4 threads its sigmoid's per-thread chunks end mid-vector there, and
    the images differ) and a group of 3 at 96 px."""
    for units, size in (([5], 224), ([0, 1, 2], 96)):
        images = [render_at_threads(lite0, threads, units, size, 6) for threads in REPRODUCIBLE_THREADS]
        assert all(torch.equal(images[0], other) for other in images[1:]), units


def test_a_plain_loop_renders_the_same_images_at_any_process_thread_count(clean_process):
    """The plain loop under ``with numerics.pinned()``: the process's own thread count does not matter."""
    backbone = load_backbone(TINY)
    schedule = UnitSchedule(units=range(4), batch_size=4, epochs=1, steps_per_epoch=4)

    def render() -> torch.Tensor:
        renderer = Renderer(backbone, ClassLogit("output"), size=32, steps=schedule.steps_per_unit, seed=3)
        renderer.attach()
        try:
            with PINNED.pinned():
                renderer.start(schedule.groups[0])
                optimizer = torch.optim.Adam(renderer.param.parameters(), lr=0.05)
                for step in range(schedule.steps_per_unit):
                    optimizer.zero_grad()
                    renderer.loss(step).loss.backward()
                    optimizer.step()
                return renderer.final_images()[0]
        finally:
            renderer.detach()

    torch.set_num_threads(2)
    first = render()
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    assert torch.equal(first, render())
