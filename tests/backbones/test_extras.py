"""extras.py: a missing optional library or an empty model name gets one sentence."""

import builtins
import logging

import pytest

from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.extras import LIBRARY_PREFIXES, quiet_loggers
from lit_actmax.errors import BackboneError


@pytest.mark.parametrize("prefix, extra", [("timm", "timm"), ("open_clip", "clip"), ("transformers", "transformers")])
def test_missing_extra_fails_with_one_sentence(monkeypatch, prefix, extra):
    assert LIBRARY_PREFIXES[prefix] == (prefix, extra)
    real_import = builtins.__import__

    def fail(name, *args, **kwargs):
        if name == prefix or name.startswith(prefix + "."):
            raise ImportError(f"No module named {prefix!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fail)
    monkeypatch.setattr("importlib.import_module", lambda name, package=None: fail(name))
    with pytest.raises(BackboneError, match=rf"pip install 'lit_actmax\[{extra}\]'\.$") as error:
        load_backbone(f"{prefix}:anything", weights=None)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("prefix", sorted(LIBRARY_PREFIXES))
def test_a_spec_that_names_no_model(prefix):
    with pytest.raises(BackboneError, match=rf"^Backbone spec '{prefix}:' names no model: use '{prefix}:<name>'\.$"):
        load_backbone(f"{prefix}:", weights=None)


def test_quiet_loggers_restores_the_levels():
    logger = logging.getLogger("lit_actmax_test_quiet")
    logger.setLevel(logging.INFO)
    with quiet_loggers("lit_actmax_test_quiet"):
        assert logger.level == logging.ERROR
    assert logger.level == logging.INFO
