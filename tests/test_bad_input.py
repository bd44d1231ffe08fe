"""The bad-input table: every mistake gets one sentence of the ActMaxError family (exit code 2 on the command line),
before anything is written: no traceback, no run folder, no file left behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest
import torch
import yaml

from lit_actmax import ActMaxModule, Channel, ClassLogit, Neuron
from lit_actmax.callbacks import GaussianBlur, Gif, PerUnitGradNorm, RandomAffineBetweenEpochs, Resize
from lit_actmax.cli.main import main
from lit_actmax.errors import ActMaxError, BackboneError, ConfigError, ProbeError, UnitSpecError
from lit_actmax.objectives.image_distance import ImageDistance
from lit_actmax.params import Pixel

TINY = "lit_actmax.testing:tiny_backbone"


def settings(tmp_path: Path, **overrides) -> dict:
    base = dict(backbone=TINY, objective=Channel("features.2"), units="0-1", size=32, batch_size=2, epochs=1,
                steps_per_epoch=1, out_dir=str(tmp_path / "runs"))
    return {**base, **overrides}


def junk(tmp_path: Path, name: str, text: str = "not what it claims to be") -> str:
    path = tmp_path / "inputs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path)


def build(**overrides) -> Callable[[Path, Callable], None]:
    """A case: build the module with the tiny settings changed by ``overrides`` (callables get ``tmp_path``)."""
    def run(tmp_path: Path, make_trainer: Callable) -> None:
        given = {k: (v(tmp_path) if callable(v) and k in ("init_image", "backbone", "out_dir") else v)
                 for k, v in overrides.items()}
        ActMaxModule(**settings(tmp_path, **given))
    return run


def fit(trainer_options: dict | None = None, **overrides) -> Callable[[Path, Callable], None]:
    """A case: build the module and fit it with a Trainer that has ``trainer_options``."""
    def run(tmp_path: Path, make_trainer: Callable) -> None:
        make_trainer(**(trainer_options or {})).fit(ActMaxModule(**settings(tmp_path, **overrides)))
    return run


def call(make: Callable[[], object]) -> Callable[[Path, Callable], None]:
    """A case: a constructor call that must refuse its arguments."""
    return lambda tmp_path, make_trainer: make()


PYTHON_CASES = {
    "unreadable unit range": (build(units="3-x"), UnitSpecError, "Cannot read units"),
    "a million units and more": (build(units="0-9999999"), UnitSpecError, "at most 1,000,000"),
    "negative unit": (build(units=[-1]), UnitSpecError, "must be >= 0"),
    "unit beyond the layer": (build(units=[99]), ConfigError, "valid units are 0-15"),
    "empty unit range": (build(units="5-1"), UnitSpecError, "is empty"),
    "unknown backbone name": (build(backbone="lite00"), BackboneError, "Did you mean 'lite0'"),
    "layer pattern that matches nothing": (build(objective=None, units={"feature.*": "all"}), ConfigError,
                                           "matches no layer of the model"),
    "units per layer with an objective": (build(units={"features.2": "0-1"}), ConfigError, "drop objective"),
    "unknown objective kind": (build(objective=None, units={"features.2": "0-1"}, objective_kind="channels"),
                               ConfigError, "objective_kind must be one of"),
    "unit beyond one of the layers": (build(objective=None, units={"features.0": "0-7", "output": "10"}), ConfigError,
                                      "Unit 10 is out of range for ClassLogit(output)"),
    "unknown torchvision model": (build(backbone="torchvision:no_such_net"), BackboneError, "no classification model"),
    "callable spec of a missing module": (build(backbone="no_such_module:f"), BackboneError, "Cannot import module"),
    "callable spec of a missing name": (build(backbone="lit_actmax.testing:nothing"), BackboneError, "has no attribute"),
    "callable spec that needs arguments": (build(backbone="lit_actmax.testing:seeded"), BackboneError,
                                           "cannot be called without arguments"),
    "missing checkpoint file": (build(backbone=lambda t: str(t / "missing.ckpt")), BackboneError, "does not exist"),
    "checkpoint without its class": (build(backbone=lambda t: junk(t, "a.ckpt")), BackboneError, "checkpoint_class"),
    "layer that does not exist": (build(objective=Channel("features.99")), ProbeError, "no layer 'features.99'"),
    "neuron outside the map": (build(objective=Neuron("features.2", y=99, x=99)), ConfigError, "outside the"),
    "image smaller than the backbone takes": (build(size=4), ConfigError, "too small"),
    "zero batch": (build(batch_size=0), ConfigError, "batch_size must be at least 1"),
    "more variants than the batch": (build(variants=3), ConfigError, "must not exceed batch_size"),
    "zero epochs": (build(epochs=0), ConfigError, "epochs must be at least 1"),
    "missing init image": (build(init_image=lambda t: str(t / "nope.png")), ConfigError, "does not exist"),
    "init image that is no image": (build(init_image=lambda t: junk(t, "text.png")), ConfigError,
                                    "is not an image Pillow can read"),
    "image distance without an image": (build(regularizers=[ImageDistance(1.0)]), ConfigError, "needs an image"),
    "mean of two channels": (build(mean=[0.5, 0.5]), BackboneError, "mean must be three numbers"),
    "std with a zero": (build(std=[0.2, 0.0, 0.2]), BackboneError, "all positive"),
    "out_dir under a file": (build(out_dir=lambda t: junk(t, "file.txt") + "/runs"), ConfigError, "is not a folder"),
    "negative learning rate": (build(optimizer=lambda p: torch.optim.Adam(p, lr=-1.0)), ConfigError,
                               "optimizer cannot be built"),
    "optimizer keyword torch does not know": (build(optimizer=lambda p: torch.optim.SGD(p, lr=0.1, mommentum=0.9)),
                                              ConfigError, "optimizer cannot be built"),
    "gradient clipping couples units": (fit({"gradient_clip_val": 1.0}), ConfigError, "gradient_clip_val"),
    "negative blur": (call(lambda: GaussianBlur(sigma=-1.0)), ConfigError, "sigma must be positive"),
    "unknown gradient mode": (call(lambda: PerUnitGradNorm(mode="scale")), ConfigError, "mode must be"),
    "zero resize factor": (call(lambda: Resize(factor=0)), ConfigError, "factor must be positive"),
    "GIF every zero epochs": (call(lambda: Gif(every=0)), ConfigError, "every must be at least 1"),
    "unknown border": (call(lambda: RandomAffineBetweenEpochs(border="wrap")), ConfigError, "border must be one of"),
    "unknown pixel activation": (call(lambda: Pixel(activation="tanh")), ConfigError, "activation must be"),
    "class logit of a missing layer": (build(objective=ClassLogit("head")), ProbeError, "no layer 'head'"),
}


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", list(PYTHON_CASES), ids=list(PYTHON_CASES))
def test_python_mistakes(case, tmp_path, make_trainer, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run, kind, words = PYTHON_CASES[case]
    (tmp_path / "inputs").mkdir()
    with pytest.raises(ActMaxError) as caught:
        run(tmp_path, make_trainer)
    assert isinstance(caught.value, kind), (type(caught.value).__name__, str(caught.value))
    message = str(caught.value)
    assert words in message and "\n" not in message and message.endswith((".", "?")), message
    left = {p for p in snapshot(tmp_path) if not p.startswith("inputs")}
    assert left == set(), left  # no run folder, no lightning_logs, nothing


def tiny_config(tmp_path: Path, **model) -> str:
    config = {"trainer": {"accelerator": "cpu", "devices": 1, "logger": False, "enable_progress_bar": False},
              "model": {"backbone": TINY, "units": "0-1", "size": 32, "batch_size": 2, "steps_per_epoch": 1,
                        "epochs": 1, "out_dir": str(tmp_path / "runs"),
                        "objective": {"class_path": "lit_actmax.objectives.Channel", "init_args": {"layer": "features.2"}},
                        **model}}
    return junk(tmp_path, "config.yaml", yaml.safe_dump(config))


CLI_CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "unknown key on the command line": (lambda t: ["fit", "--config", tiny_config(t), "--model.sizee", "3"],
                                        "unknown key 'model.sizee' (did you mean 'model.size'?)"),
    "unknown key in a config file": (lambda t: ["fit", "--config", tiny_config(t, colour="red")],
                                     "config.yaml: unknown key 'model.colour'"),
    "misspelt class_path": (lambda t: ["fit", "--config", tiny_config(
        t, objective={"class_path": "lit_actmax.objectives.Chanel"})], "did you mean 'Channel'?"),
    "malformed YAML": (lambda t: ["fit", "--config", junk(t, "broken.yaml", "model: [unclosed\n")],
                       "broken.yaml is not valid YAML"),
    "missing config file": (lambda t: ["fit", "--config", str(t / "nope.yaml")], "does not exist"),
    "value of the wrong type": (lambda t: ["fit", "--config", tiny_config(t), "--model.batch_size", "many"],
                                "model.batch_size: expected int"),
    "layer typo through the CLI": (lambda t: ["fit", "--config", tiny_config(
        t, objective={"class_path": "lit_actmax.objectives.Channel", "init_args": {"layer": "features.9"}})],
        "no layer 'features.9'"),
    "a subcommand that is not offered": (lambda t: ["validate", "--config", tiny_config(t)], "validate"),
    "layers of an unknown backbone": (lambda t: ["layers", "lite00"], "Did you mean 'lite0'"),
    "gallery of a missing folder": (lambda t: ["gallery", str(t / "no_run")], "no_run"),
    "checkpoint that is not a checkpoint": (lambda t: ["fit", "--config", tiny_config(t), "--ckpt_path",
                                                       junk(t, "junk.ckpt")], "junk.ckpt"),
}


@pytest.mark.parametrize("case", list(CLI_CASES), ids=list(CLI_CASES))
def test_cli_mistakes(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, words = CLI_CASES[case]
    args = argv(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(r"lit-actmax( \w+)?: error: ", lines[0]), err[-2000:]
    assert words in lines[0], lines[0]
    left = {p for p in snapshot(tmp_path) if not p.startswith("inputs")}
    assert left == set(), left
