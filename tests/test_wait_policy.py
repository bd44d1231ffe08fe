"""``lit_actmax.wait_policy``: OpenMP's wait policy is chosen before torch starts, the user's always wins."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lit_actmax.wait_policy import DEFAULT_WAIT_POLICY, WAIT_POLICY_VARIABLE, choose_wait_policy


def policy_in_fresh_process(code: str, env_policy: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != WAIT_POLICY_VARIABLE}
    env.update({WAIT_POLICY_VARIABLE: env_policy} if env_policy else {})
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


CLI = ("import os, contextlib, io\nfrom lit_actmax.cli.main import main\n"
       "with contextlib.redirect_stdout(io.StringIO()): main(['configs'])\nprint(os.environ.get('OMP_WAIT_POLICY'))")


@pytest.mark.parametrize("user, expected", [(None, DEFAULT_WAIT_POLICY), ("ACTIVE", "ACTIVE")])
def test_the_command_chooses_passive_unless_the_user_chose(user, expected):
    assert policy_in_fresh_process(CLI, user) == expected


def test_after_torch_is_imported_nothing_is_set_and_it_says_so(monkeypatch):
    monkeypatch.delenv(WAIT_POLICY_VARIABLE, raising=False)
    import torch  # noqa: F401  (the OpenMP runtime may be running)

    with pytest.warns(UserWarning, match=r"^OMP_WAIT_POLICY was not set before torch was imported.*\.$"):
        assert choose_wait_policy() is None
    assert choose_wait_policy(warn=False) is None and WAIT_POLICY_VARIABLE not in os.environ
    monkeypatch.setenv(WAIT_POLICY_VARIABLE, "ACTIVE")
    assert choose_wait_policy() == "ACTIVE"
