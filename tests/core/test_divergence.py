"""Divergence: a non-finite loss, activation, gradient or parameter stops the run with one sentence naming the units,
the step in their group and the likely cause; no PNG, record, index or checkpoint ever holds a NaN."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from lit_actmax import ActMaxModule, Channel, Pixel, Renderer
from lit_actmax.augment import Compose, Jitter
from lit_actmax.core.divergence import divergence_error
from lit_actmax.core.schedule import UnitImage
from lit_actmax.errors import ActMaxError, DivergenceError
from lit_actmax.objectives import RenderBatch
from lit_actmax.objectives.regularizers import Regularizer
from lit_actmax.run.files import jsonable, read_json, strict_json, write_json
from lit_actmax.run.records import FinishedUnits
from lit_actmax.run.writer import RunWriter
from lit_actmax.testing import tiny_backbone

TINY = "lit_actmax.testing:tiny_backbone"


class NaNAfter(Regularizer):
    """A regularizer that scores NaN for one unit from its ``after``-th optimizer step on (steps with gradients only,
    so the dry run of ``validate`` does not count)."""

    def __init__(self, unit: int, after: int) -> None:
        super().__init__(1.0)
        self.unit, self.after, self.calls = unit, after, 0

    def score(self, batch: RenderBatch) -> torch.Tensor:
        hit = batch.units == self.unit
        if torch.is_grad_enabled() and bool(hit.any()):
            self.calls += 1
        zero = batch.image.flatten(1).mean(1) * 0
        return torch.where(hit & (self.calls > self.after), torch.full_like(zero, math.nan), zero)


class SqrtAtZero(Regularizer):
    """A finite penalty (0) whose gradient is NaN for one unit: the square root of a distance that is 0."""

    def __init__(self, unit: int) -> None:
        super().__init__(1.0)
        self.unit = unit

    def score(self, batch: RenderBatch) -> torch.Tensor:
        distance = (batch.image - batch.image.detach()).pow(2).flatten(1).sum(1)
        out = torch.zeros_like(distance)
        hit = batch.units == self.unit
        out[hit] = distance[hit].sqrt()
        return out


class NaNChannel(Channel):
    """Channel whose score is NaN for one unit: an objective that produces NaN from a finite image."""

    def __init__(self, layer: str, bad: int) -> None:
        super().__init__(layer)
        self.bad = bad

    def score(self, batch: RenderBatch) -> torch.Tensor:
        score = super().score(batch)
        return torch.where(batch.units == self.bad, torch.full_like(score, math.nan), score)


def module(tmp_path: Path, **overrides) -> ActMaxModule:
    options = dict(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=4,
                   steps_per_epoch=3, epochs=2, transforms=Compose([Jitter(2)]), out_dir=str(tmp_path / "runs"),
                   run_name="t")
    options.update(overrides)
    return ActMaxModule(**options)


def checkpointing_trainer(make_trainer, tmp_path: Path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    every_step = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, save_last=True)
    return make_trainer(enable_checkpointing=True, callbacks=[every_step])


def _refuse(constant: str):
    raise AssertionError(f"non-strict JSON constant {constant}")


def assert_nothing_non_finite(root: Path) -> list[Path]:
    """Every JSON under ``root`` is strict JSON, every checkpoint's tensors are finite; returns the PNGs."""
    for path in root.rglob("*.json"):
        json.loads(path.read_text(), parse_constant=_refuse)
    for path in root.rglob("*.ckpt"):
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
        for key, value in state.items():
            if torch.is_tensor(value) and value.is_floating_point():
                assert torch.isfinite(value).all(), (path, key)
    return sorted(root.rglob("*.png"))


def one_sentence(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message and message.endswith("."), message
    return message


# -- through the Trainer ---------------------------------------------------------------------------------------------
def test_a_huge_learning_rate_stops_the_run_naming_the_units_and_the_step(tmp_path, make_trainer):
    """Adam at 1e37 makes finite Fourier coefficients whose image is NaN at the next step."""
    actmax = module(tmp_path, optimizer=lambda p: torch.optim.Adam(p, lr=1e37))
    with pytest.raises(DivergenceError) as caught:
        checkpointing_trainer(make_trainer, tmp_path).fit(actmax)
    assert isinstance(caught.value, ActMaxError)
    assert one_sentence(caught.value) == (
        "Units [0, 1, 2, 3] diverged at step 1 of their group: their image is nan (the image parameters reach "
        "1.0e+37); lower the optimizer's learning rate.")
    assert assert_nothing_non_finite(tmp_path) == []  # no unit finished: no PNG


def test_parameters_that_overflow_at_the_optimizer_step_stop_the_run_before_a_checkpoint(tmp_path, make_trainer):
    """Clamped pixels at an infinite value still make a finite (saturated) image: the parameters are checked."""
    actmax = module(tmp_path, param=Pixel(activation="clamp"), objective=Channel("features.2") * 1e6,
                    optimizer=lambda p: torch.optim.SGD(p, lr=1e38))
    with pytest.raises(DivergenceError, match=r"^Units \[0, 1, 2, 3\] diverged at step 0 of their group: their image "
                                              r"parameters became inf at the optimizer step; lower the optimizer's "
                                              r"learning rate\.$"):
        checkpointing_trainer(make_trainer, tmp_path).fit(actmax)
    assert not list(tmp_path.rglob("*.ckpt"))
    assert assert_nothing_non_finite(tmp_path) == []


def test_a_nan_regularizer_stops_the_run_naming_its_unit_and_step_and_keeps_finished_units(tmp_path, make_trainer):
    """Units 0-1 finish in group 0; unit 2's regularizer turns NaN at step 4 of group 1 (its second epoch)."""
    actmax = module(tmp_path, batch_size=2, regularizers=[NaNAfter(unit=2, after=4)])
    with pytest.raises(DivergenceError) as caught:
        checkpointing_trainer(make_trainer, tmp_path).fit(actmax)
    assert one_sentence(caught.value) == (
        "Unit 2 diverged at step 4 of its group: its score is nan although its activation is finite; a regularizer "
        "produced it; lower the regularizer weights or check the regularizers.")
    run = tmp_path / "runs" / "t" / "version_0"
    pngs = assert_nothing_non_finite(tmp_path)
    assert [p.name for p in pngs] == ["unit_00000.png", "unit_00001.png"]
    for unit in (0, 1):
        assert math.isfinite(read_json(run / "images" / "features.2" / f"unit_0000{unit}.json")["activation"])
    assert list((tmp_path / "ckpt").glob("*.ckpt"))  # checkpoints were saved up to the divergence, all finite


def test_a_nan_gradient_with_a_finite_loss_stops_the_run_before_the_step(tmp_path, make_trainer):
    actmax = module(tmp_path, regularizers=[SqrtAtZero(unit=1)], save_outputs=False)
    before = actmax.renderer.param
    with pytest.raises(DivergenceError, match=r"^Unit 1 diverged at step 0 of its group: its gradient is nan although "
                                              r"its loss is finite; lower the optimizer's learning rate or the "
                                              r"regularizer weights, .*\(a square root or a norm at 0\?\)\.$"):
        make_trainer().fit(actmax)
    assert all(torch.isfinite(p).all() for p in before.parameters())  # the optimizer never stepped on it


def test_after_a_divergence_the_backbone_runs_a_plain_forward(tmp_path, make_trainer):
    actmax = module(tmp_path, optimizer=lambda p: torch.optim.Adam(p, lr=1e37), save_outputs=False)
    with pytest.raises(DivergenceError):
        make_trainer().fit(actmax)
    assert actmax.renderer.backbone(torch.rand(1, 3, 32, 32)).shape == (1, 10)


# -- the renderer in a plain loop ------------------------------------------------------------------------------------
def renderer(**overrides) -> Renderer:
    options = dict(objective=Channel("features.2"), transforms=Compose([]), size=32, steps=4)
    options.update(overrides)
    made = Renderer(tiny_backbone(), **options)
    made.validate([0, 1, 2, 3])
    made.attach()
    made.start([UnitImage(u, 0, True) for u in (0, 1, 2, 3)])
    return made


def test_an_objective_that_produces_nan_is_named_as_the_cause():
    made = renderer(objective=NaNChannel("features.2", bad=3))
    try:
        with pytest.raises(DivergenceError) as caught:
            made.loss(0)
    finally:
        made.detach()
    assert one_sentence(caught.value) == (
        "Unit 3 diverged at step 0 of its group: its activation is nan although its image is finite; the objective "
        "produced it; check the objective's terms (a division by zero?).")


def test_non_finite_parameters_are_caught_before_the_forward_and_after_a_step():
    made = renderer(param=Pixel(activation="clamp"))
    try:
        made.loss(0)  # finite: no error
        made.param.pixels.data[2, 0, 0, 0] = math.inf
        with pytest.raises(DivergenceError, match=r"^Unit 2 diverged at step 3 of its group: its image parameters "
                                                  r"are inf; lower the optimizer's learning rate\.$"):
            made.loss(3)
        with pytest.raises(DivergenceError, match=r"became inf at the optimizer step"):
            made.check_parameters(3)
        made.param.pixels.data[2] = 0.5
        made.param.pixels.grad = torch.zeros_like(made.param.pixels)
        made.param.pixels.grad[[0, 1]] = math.nan
        with pytest.raises(DivergenceError, match=r"^Units \[0, 1\] diverged at step 2 of their group: their gradient "
                                                  r"is nan"):
            made.check_gradients(2)
    finally:
        made.detach()


def test_a_long_list_of_units_is_shortened():
    made = renderer()
    made.items = tuple(UnitImage(u, 0, True) for u in range(20))
    message = str(divergence_error(made.unit_names, torch.ones(20, dtype=torch.bool), 5, "{their} loss is nan", "lower it"))
    assert message == ("Units [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... (20 units)] diverged at step 5 of their group: "
                       "their loss is nan; lower it.")
    made.detach()


# -- the writer ------------------------------------------------------------------------------------------------------
def finished(images: torch.Tensor, activations: list[float], valid: list[bool] | None = None) -> FinishedUnits:
    n = images.shape[0]
    return FinishedUnits(units=list(range(10, 10 + n)), variants=[0] * n, images=images,
                         activations=torch.tensor(activations), valid=valid or [True] * n)


@pytest.mark.parametrize("bad_image, bad_activation", [(True, False), (False, True)])
def test_the_writer_refuses_a_non_finite_image_or_activation_and_writes_nothing(tmp_path, bad_image, bad_activation):
    images = torch.rand(3, 3, 8, 8)
    if bad_image:
        images[1, 0, 2, 2] = math.nan
    activations = [1.0, -math.inf if bad_activation else 2.0, 3.0]
    with pytest.raises(DivergenceError, match=r"^Unit 11 finished with a non-finite image or activation, so nothing of "
                                              r"this group is written; lower the optimizer's learning rate"):
        RunWriter(tmp_path, "features.2").write_units(finished(images, activations))
    assert not any(tmp_path.rglob("*.*"))


def test_the_writer_skips_non_finite_padding_and_stores_callbacks_non_finite_numbers_as_null(tmp_path):
    images = torch.rand(2, 3, 8, 8)
    images[1] = math.nan  # a padding image: never written
    units = finished(images, [0.5, math.nan], valid=[True, False])
    units.extras[0].update(best_activation=-math.inf, curve=[1.0, math.nan], steps=3, when=torch.tensor([math.inf]))
    writer = RunWriter(tmp_path, "features.2")
    writer.write_units(units)
    record = json.loads((tmp_path / "images" / "features.2" / "unit_00010.json").read_text(), parse_constant=_refuse)
    assert record["activation"] == 0.5
    assert (record["best_activation"], record["curve"], record["steps"], record["when"]) == (None, [1.0, None], 3, [None])
    assert [p.name for p in tmp_path.rglob("*.png")] == ["unit_00010.png"]


def test_the_index_is_strict_json_with_undefined_run_metrics_as_null(tmp_path):
    from lit_actmax.run.records import RunSummary

    writer = RunWriter(tmp_path, "features.2")
    writer.write_units(finished(torch.rand(1, 3, 8, 8), [0.25]))
    summary = RunSummary(backbone=TINY, objective="Channel(features.2)", regularizers=[], layers=["features.2"],
                         param="Fourier", size=[8, 8], steps_per_unit=4, seed=0, world_size=1,
                         config=jsonable({"lr": math.nan, "mean": [0.5, math.inf], "units": "0"}))
    path = writer.write_index(summary, {("features.2", 10, 0)}, tile=8, entries={"metrics": {"mean": math.nan, "count": 1}})
    index = json.loads(path.read_text(), parse_constant=_refuse)
    assert index["metrics"] == {"mean": None, "count": 1}
    assert index["config"] == {"lr": None, "mean": [0.5, None], "units": "0"}
    assert index["units"][0]["activation"] == 0.25


def test_write_json_refuses_nan_naming_the_key_and_leaves_no_file(tmp_path):
    path = tmp_path / "x.json"
    for data, key in [({"units": [{"activation": 1.0}, {"activation": math.nan}]}, "units[1].activation"),
                      ({"a": torch.tensor([0.0, math.inf])}, "a[1]"), (math.inf, "the top level")]:
        with pytest.raises(ValueError, match=re.escape(f"at {key}; JSON has no NaN or infinity")):
            write_json(path, data)
        assert not any(tmp_path.iterdir())
    write_json(path, {"a": 1.5, "b": None})
    assert json.loads(path.read_text(), parse_constant=_refuse) == {"a": 1.5, "b": None}


def test_strict_json_replaces_only_non_finite_floats():
    import numpy as np

    value = {"a": [math.nan, 1.0, -math.inf], "b": np.float32("nan"), "c": np.float64(2.0), "d": 3, "e": "nan",
             "f": (True, None), "g": torch.tensor([1.0, math.nan]), "h": torch.tensor([1, 2])}
    assert strict_json(value) == {"a": [None, 1.0, None], "b": None, "c": 2.0, "d": 3, "e": "nan", "f": [True, None],
                                  "g": [1.0, None], "h": value["h"]}
