"""lightning/hparams.py: plain hyperparameters that `yaml.safe_load` reads, and `load_from_checkpoint` rebuilding a
module that renders the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lit_actmax import ActMaxModule, Channel, TotalVariation
from lit_actmax.augment import Compose, Jitter
from lit_actmax.errors import ConfigError
from lit_actmax.lightning.hparams import NotDescribable, plain_config
from lit_actmax.lightning.package import ModelCheckpoint, pl
from lit_actmax.params import Fourier

TINY = "lit_actmax.testing:tiny_backbone"


def build(tmp_path, **overrides) -> ActMaxModule:
    options = dict(backbone=TINY, objective=Channel("features.2") - TotalVariation(0.05), units="0-3", size=32,
                   batch_size=2, steps_per_epoch=2, epochs=2, transforms=Compose([Jitter(2)]),
                   param=Fourier(decay_power=1.5), out_dir=str(tmp_path / "runs"))
    options.update(overrides)
    return ActMaxModule(**options)


def pngs(run_dir) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(run_dir.glob("images/*/unit_*.png"))}


def test_objects_become_class_path_and_init_args():
    described = plain_config(Channel("features.2", 3) - 0.05 * TotalVariation())
    assert described == {"class_path": "lit_actmax.objectives.base.Sum", "init_args": {"terms": [
        [1.0, {"class_path": "lit_actmax.objectives.activation.Channel", "init_args": {"layer": "features.2", "unit": 3}}],
        [-0.05, {"class_path": "lit_actmax.objectives.regularizers.TotalVariation", "init_args": {"weight": 1.0, "beta": 1.0}}],
    ]}}
    with pytest.raises(NotDescribable):
        plain_config(lambda params: torch.optim.SGD(params, lr=1.0))


def test_hparams_yaml_is_safe_loadable_and_load_from_checkpoint_renders_the_same_images(tmp_path, make_trainer):
    module = build(tmp_path)
    trainer = make_trainer(logger=pl.loggers.CSVLogger(str(tmp_path / "logs")), enable_checkpointing=True)
    trainer.fit(module)
    hparams = yaml.safe_load(next((tmp_path / "logs").rglob("hparams.yaml")).read_text())
    assert hparams["objective"]["class_path"] == "lit_actmax.objectives.base.Sum"
    assert hparams["numerics"] == {"threads": "auto", "deterministic": True, "matmul_precision": "highest"}
    assert hparams["param"] == {"class_path": "lit_actmax.params.fourier.Fourier", "init_args": hparams["param"]["init_args"]}
    assert hparams["param"]["init_args"]["decay_power"] == 1.5
    assert hparams["_instantiator"].endswith(".cli.instantiate_module")
    first = pngs(module.run_dir)

    checkpoint = next(module.run_dir.glob("checkpoints/*.ckpt"))
    loaded = ActMaxModule.load_from_checkpoint(checkpoint)
    assert loaded.renderer.objective.describe() == module.renderer.objective.describe()
    make_trainer().fit(loaded)
    assert loaded.run_dir != module.run_dir  # a new run folder: the original is never written again
    again = pngs(loaded.run_dir)
    assert len(first) == 4 and again.keys() == first.keys()
    assert all(np.array_equal(first[name], again[name]) for name in first)


def test_a_setting_that_cannot_be_saved_is_refused_on_load_unless_given(tmp_path, make_trainer):
    module = build(tmp_path, optimizer=lambda params: torch.optim.Adam(params, lr=0.05))
    make_trainer(callbacks=[ModelCheckpoint(dirpath=str(tmp_path / "ckpt"))], enable_checkpointing=True).fit(module)
    assert module.hparams["optimizer"] is None
    checkpoint = next((tmp_path / "ckpt").glob("*.ckpt"))
    with pytest.raises(ConfigError, match="This checkpoint was made with other settings: optimizer"):
        ActMaxModule.load_from_checkpoint(checkpoint)
    loaded = ActMaxModule.load_from_checkpoint(checkpoint, optimizer=module.optimizer_factory)
    assert loaded.optimizer_factory is module.optimizer_factory
