"""spelling.py: the "Did you mean" hint."""

from lit_actmax.backbones.spelling import did_you_mean


def test_close_names_or_nothing():
    assert did_you_mean("resnt18", ["resnet18", "resnet50", "vgg11"]) == " Did you mean 'resnet18', 'resnet50'?"
    assert did_you_mean("zzz", ["resnet18"]) == ""
    assert did_you_mean("lite", iter(["lite0", "lite1", "lite2", "lite3"])).count("'") == 6  # at most three
