import pytest

from lit_actmax.core.units import UnitSpecError, parse_units


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("0-7", list(range(8))),
        ("1,5,9", [1, 5, 9]),
        ("0-20:10", [0, 10, 20]),
        ("3, 1-2", [3, 1, 2]),
        (130, [130]),
        ([4, 2, 4], [4, 2]),
    ],
)
def test_parse_units_forms(spec, expected):
    assert parse_units(spec) == expected


@pytest.mark.parametrize("spec", ["a-b", "", "1-x", [], "-3"])
def test_parse_units_rejects_with_a_clear_message(spec):
    with pytest.raises(UnitSpecError, match="units|unit|empty|>= 0"):
        parse_units(spec)
