"""``lit_actmax.core.numerics``: pinning a process's numerics and giving them back; plain torch, no Trainer."""

from __future__ import annotations

import json
import os

import pytest
import torch

from lit_actmax import ClassLogit, Renderer, UnitSchedule
from lit_actmax.backbones import load_backbone
from lit_actmax.core.numerics import CUBLAS_WORKSPACE, PINNED, Numerics, NumericsState, current_numerics
from lit_actmax.errors import ConfigError

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
    before = NumericsState.capture()
    state = PINNED.apply()
    assert state == before
    now = current_numerics()
    assert now["threads"] == 2 and now["deterministic"] and now["cudnn_deterministic"]
    assert not now["cudnn_benchmark"] and not now["cudnn_allow_tf32"] and not now["cuda_matmul_allow_tf32"]
    assert now["matmul_precision"] == "highest" and os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    assert torch.is_deterministic_algorithms_warn_only_enabled()  # an op without a deterministic kernel only warns
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
    assert PINNED.describe() == {"threads": 2, "deterministic": True, "matmul_precision": "highest"}
    now = json.loads(json.dumps(current_numerics()))
    assert now["torch"] == torch.__version__ and now["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


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
