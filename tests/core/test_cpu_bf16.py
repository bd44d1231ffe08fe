"""core/cpu_bf16.py: one line of warning for bf16 on a CPU that emulates it."""

from __future__ import annotations

import pytest

from lit_actmax.core.cpu_bf16 import native_bf16, slow_bf16_warning


def test_bf16_on_a_cpu_without_it_is_one_line():
    warning = slow_bf16_warning("bf16-mixed", "cpu", native=False)
    assert warning is not None and "\n" not in warning
    assert warning.startswith("precision bf16-mixed on a CPU without native bf16") and "--trainer.precision 32" in warning
    assert slow_bf16_warning("bf16-true", "cpu", native=False) is not None


@pytest.mark.parametrize("precision, device, native", [
    ("bf16-mixed", "cpu", True), ("bf16-mixed", "cuda", False), ("32-true", "cpu", False), ("16-mixed", "cpu", False),
    ("bf16-mixed", "cpu", None),  # a torch that cannot tell: no guess
])
def test_no_warning_where_bf16_fits_or_is_not_chosen(precision, device, native, monkeypatch):
    if native is None:
        monkeypatch.setattr("lit_actmax.core.cpu_bf16.native_bf16", lambda: None)
    assert slow_bf16_warning(precision, device, native=native) is None


def test_this_machine_is_probed():
    assert native_bf16() in (True, False, None)


def test_a_fit_warns_once_on_such_a_cpu(tiny_module, make_trainer, monkeypatch, recwarn):
    monkeypatch.setattr("lit_actmax.core.cpu_bf16.native_bf16", lambda: False)
    make_trainer(precision="bf16-mixed", max_steps=1).fit(tiny_module())
    messages = [str(w.message) for w in recwarn if "without native bf16" in str(w.message)]
    assert len(messages) == 1
