"""moved.py: every module path of the release before the split into subpackages still imports, as today's module."""

import importlib
import subprocess
import sys
import warnings

import pytest

from lit_actmax.moved import MOVED_MODULES, current_name


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_an_old_module_path_imports_with_its_public_names(old):
    sys.modules.pop(old, None)  # imported by an earlier test: import it afresh, so it warns again
    with pytest.warns(DeprecationWarning, match=f"{old} moved to"):
        module = importlib.import_module(old)
    new = MOVED_MODULES[old]
    homes = [new] if isinstance(new, str) else list(new)
    for home in homes:
        for name in getattr(importlib.import_module(home), "__all__", []):
            assert getattr(module, name) is getattr(importlib.import_module(home), name), (old, name)
    if isinstance(new, str):
        assert module is importlib.import_module(new)  # the same module: classes keep their identity


def test_class_paths_of_shipped_configs_of_the_last_release_resolve():
    """The ``class_path`` values configs used before the move (``lit_actmax.regularizers.TotalVariation``, ...)."""
    from lit_actmax.objectives import ImageDistance, TotalVariation
    from lit_actmax.optim import GradientAscent  # noqa: F401 - an old path, imported to prove it works

    assert importlib.import_module("lit_actmax.regularizers").TotalVariation is TotalVariation
    assert importlib.import_module("lit_actmax.accentuate").ImageDistance is ImageDistance
    assert importlib.import_module("lit_actmax.testing_lightning").TinyClassifier.__module__ == "lit_actmax.lightning.testing"


def test_an_unknown_name_of_a_split_module_says_where_it_went():
    split = next(old for old, new in MOVED_MODULES.items() if not isinstance(new, str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # warned already if an earlier test imported it
        module = importlib.import_module(split)
    with pytest.raises(AttributeError, match="it moved to"):
        module.no_such_name  # noqa: B018


def test_qualified_names_map_to_today_s():
    assert current_name("lit_actmax.optim.default_optimizer") == "lit_actmax.core.optim.default_optimizer"
    assert current_name("lit_actmax.rundir.write_json") == "lit_actmax.run.files.write_json"
    assert current_name("lit_actmax.objectives.Channel") == "lit_actmax.objectives.Channel"
    assert current_name("torch.optim.adam.Adam") == "torch.optim.adam.Adam"


def test_an_old_class_path_works_in_a_fresh_interpreter():
    code = ("import lit_actmax.regularizers as r, lit_actmax.objectives as o; "
            "assert r.TotalVariation is o.TotalVariation; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"


def test_a_config_of_the_last_release_parses_with_its_old_class_paths(tmp_path):
    """A config as the release before the split wrote it: old class paths reach today's classes."""
    from lit_actmax.cli.lightning_cli import ActMaxCLI
    from lit_actmax.core.optim import GradientAscent
    from lit_actmax.objectives import TotalVariation

    config = tmp_path / "old.yaml"
    config.write_text("""
trainer: {accelerator: cpu, devices: 1, logger: false, enable_checkpointing: false}
model:
  backbone: lit_actmax.testing:tiny_backbone
  units: [0, 1]
  objective: {class_path: lit_actmax.objectives.Channel, init_args: {layer: features.2}}
  regularizers:
    - {class_path: lit_actmax.regularizers.TotalVariation, init_args: {weight: 0.1}}
  optimizer: {class_path: lit_actmax.optim.GradientAscent, init_args: {lr: 0.5}}
  size: 32
  save_outputs: false
""")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cli = ActMaxCLI(args=["--config", str(config)], run=False)
    assert isinstance(cli.model.renderer.regularizers[0], TotalVariation)
    assert isinstance(cli.model.configure_optimizers(), GradientAscent)
