"""cli/fit_help.py: a short `fit --help`, the common options first, each a real option."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

from lit_actmax.cli.fit_help import COMMON_OPTIONS, fit_help
from lit_actmax.cli.main import main


def test_every_common_option_is_an_argument_of_the_module_or_the_trainer():
    from lit_actmax.lightning.module import ActMaxModule
    from lit_actmax.lightning.package import Trainer

    model = set(inspect.signature(ActMaxModule.__init__).parameters)
    trainer = set(inspect.signature(Trainer.__init__).parameters)
    for option, _ in COMMON_OPTIONS:
        name = re.match(r"--([\w.]+)", option).group(1)
        group, _, key = name.partition(".")
        if group == "model":
            assert key in model, option
        elif group == "trainer":
            assert key in trainer, option
        else:
            assert name in ("config", "ckpt_path", "print_config"), option


def test_fit_help_is_short_and_loads_no_lightning():
    code = ("import sys; from lit_actmax.cli.main import main; main(['fit', '--help']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytorch_lightning', 'lightning', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines()[-1] == "[]"
    help_text = out.rsplit("\n", 2)[0]
    assert help_text == fit_help().rstrip("\n")
    assert len(help_text.splitlines()) < 60 and "--help-all" in help_text
    assert help_text.index("--config") < help_text.index("--model.units") < help_text.index("--trainer.accelerator")


def test_help_all_is_lightning_clis_full_list(capsys):
    try:
        main(["fit", "--help-all"])
    except SystemExit as stop:
        assert stop.code == 0
    out = capsys.readouterr().out
    assert "--trainer.gradient_clip_val" in out and "--model.numerics" in out and len(out.splitlines()) > 200
    assert "LIT_ACTMAX_FIT__MODEL__UNITS" in out  # the environment variables, LightningCLI's default_env
