"""user_callable.py: ``"<module>:<callable>"`` specs and the sentences for what cannot be called."""

import pytest

from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.user_callable import load_user_callable
from lit_actmax.errors import BackboneError
from lit_actmax.testing import TinyConvNet


def test_the_callable_is_called_with_the_options():
    assert isinstance(load_user_callable("lit_actmax.testing:tiny_convnet"), TinyConvNet)
    assert load_user_callable("lit_actmax.testing:TinyConvNet", num_classes=3).classifier[1].out_features == 3


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ("no_such_module_xyz:build", r"^Cannot import module 'no_such_module_xyz' of backbone spec .*PYTHONPATH\.$"),
        ("lit_actmax.testing:nothing_here", r"^Module 'lit_actmax.testing' has no attribute 'nothing_here'"),
        ("lit_actmax.testing:__doc__", "is not callable; it must return an nn.Module"),
        ("lit_actmax.testing:seeded", "cannot be called without arguments"),
    ],
)
def test_bad_callable_specs_fail_with_one_clear_sentence(spec, pattern):
    with pytest.raises(BackboneError, match=pattern) as error:
        load_backbone(spec)
    assert "\n" not in str(error.value)


def test_a_callable_that_returns_no_module():
    with pytest.raises(BackboneError, match=r"returned str; it must return an nn.Module\.$"):
        load_backbone("os:getcwd")
