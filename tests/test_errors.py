"""errors.py: one hierarchy; every user mistake raises a subclass of ActMaxError and the CLI prints one line."""

import pytest

from lit_actmax import errors
from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.probe import LayerProbe
from lit_actmax.cli.main import main
from lit_actmax.core.schedule import UnitSchedule
from lit_actmax.core.units import parse_units
from lit_actmax.errors import ActMaxError, BackboneError, ConfigError, ProbeError, UnitSpecError
from lit_actmax.testing import tiny_backbone


def test_every_error_is_an_actmax_error_and_a_value_error():
    for name in errors.__all__:
        error = getattr(errors, name)
        assert issubclass(error, ActMaxError) and issubclass(error, ValueError), name


@pytest.mark.parametrize("raise_it, kind", [
    (lambda: parse_units("3-x"), UnitSpecError),
    (lambda: load_backbone("no_such_model"), BackboneError),
    (lambda: LayerProbe(tiny_backbone().model, ["features.99"]), ProbeError),
    (lambda: UnitSchedule((0, 1), batch_size=1, variants=2), ConfigError),
])
def test_each_part_raises_its_own_kind(raise_it, kind):
    with pytest.raises(kind) as caught:
        raise_it()
    message = str(caught.value)
    assert "\n" not in message and message.rstrip().endswith(".")


@pytest.mark.parametrize("argv", [["layers", "no_such_model"], ["layers", "torchvision:no_such_net"]])
def test_the_cli_prints_the_message_without_a_traceback(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lit-actmax: error: ") and "Traceback" not in err and err.count("\n") == 1
