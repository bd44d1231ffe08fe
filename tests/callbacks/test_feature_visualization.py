"""FeatureVisualization in the user's own training: not one bit of the training changes, the pictures reach every
logger and a folder beside the logs, mistakes are one sentence at setup, a failing render never stops the training,
DDP on 2 CPU processes."""

from __future__ import annotations

import io
import json
import random
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax.errors import ActMaxError, ConfigError
from lit_actmax.lightning.package import pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dist_helpers"))
from launch import run_helper  # noqa: E402
from watched_training import EPOCHS, WatchedNet, train, visualization  # noqa: E402

#: Renders of :func:`visualization` over the 3 epochs of 6 steps: the start, every 4 steps, every epoch's end.
RENDERED = [0, 4, 6, 8, 12, 16, 18]


def assert_same_training(a: dict, b: dict) -> None:
    """Every tensor and stream the two trainings ended with is equal, bit for bit."""
    assert a["module"].keys() == b["module"].keys()
    for key in a["module"]:  # weights, BatchNorm running statistics and counters
        assert torch.equal(a["module"][key], b["module"][key]), key
    assert all(x is None and y is None or torch.equal(x, y) for x, y in zip(a["grads"], b["grads"]))
    assert a["requires_grad"] == b["requires_grad"] and a["training"] == b["training"]
    for x, y in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"] and a["scheduler"] == b["scheduler"]
    assert torch.equal(a["torch_rng"], b["torch_rng"]) and a["python_rng"] == b["python_rng"]
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a["numpy_rng"], b["numpy_rng"]))
    assert a["global_step"] == b["global_step"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict:
    """The training without the callback."""
    return train(tmp_path_factory.mktemp("plain"), None)[0]


@pytest.mark.slow
def test_training_ends_bit_for_bit_as_without_it(plain, tmp_path):
    watch = visualization(str(tmp_path / "renders"), site=False)
    watched, _ = train(tmp_path, watch)
    assert watch.rendered_steps == RENDERED and watch.failures == 0
    assert_same_training(plain, watched)
    assert watched["global_step"] == 6 * EPOCHS
    history = json.loads((tmp_path / "renders" / "evolution.json").read_text())
    assert [r["step"] for r in history["renders"]] == RENDERED
    assert [r["trigger"] for r in history["renders"]][:3] == ["start", "step", "epoch end"]
    record = json.loads((tmp_path / "renders" / "images" / "1" / "unit_00001.json").read_text())
    assert [f["step"] for f in record["evolution"]] == RENDERED and record["layer"] == "1"


def test_a_failing_render_is_reported_once_and_the_training_goes_on(plain, tmp_path):
    watch = visualization(str(tmp_path / "renders"))

    def broken(parameters):  # fails inside the render, with the model frozen and hooked
        raise RuntimeError("optimizer exploded")

    watch.live.optimizer = broken
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        watched, _ = train(tmp_path, watch)
    reports = [w for w in caught if "FeatureVisualization: the render" in str(w.message)]
    assert len(reports) == 1 and "step 0 failed (RuntimeError: optimizer exploded)" in str(reports[0].message)
    assert watch.failures == len(RENDERED) and watch.rendered_steps == RENDERED
    assert_same_training(plain, watched)
    assert not (tmp_path / "renders" / "evolution.json").exists()


def test_a_layer_that_does_not_exist_is_one_sentence_before_the_first_epoch(tmp_path):
    class Epochs(pl.Callback):
        started = 0

        def on_train_epoch_start(self, trainer, pl_module):
            Epochs.started += 1

    module = WatchedNet().train()
    flags = [m.training for m in module.modules()], [p.requires_grad for p in module.parameters()]
    watch = visualization(str(tmp_path / "renders"), units={"12": "0-3"})
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[watch, Epochs()])
    with pytest.raises(ActMaxError, match=r"^The layer selection '12' matches no layer of the model\."):
        trainer.fit(module, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(8, 3, 16, 16),
                                                                                     torch.zeros(8, dtype=torch.long))))
    assert Epochs.started == 0 and not (tmp_path / "renders").exists()
    assert ([m.training for m in module.modules()], [p.requires_grad for p in module.parameters()]) == flags


def test_sharding_strategies_and_bad_settings_are_refused():
    from lit_actmax.callbacks.feature_visualization import SHARDING_STRATEGIES

    fsdp = getattr(pl.strategies, SHARDING_STRATEGIES[0])
    trainer = types.SimpleNamespace(strategy=object.__new__(fsdp))
    with pytest.raises(ConfigError, match="FSDPStrategy shards its parameters across processes; watch the training "
                                          "under DDP or on one device"):
        visualization("unused").setup(trainer, WatchedNet(), "fit")
    with pytest.raises(ConfigError, match="every_n_steps must be a whole number"):
        visualization("unused", every_n_steps=-2)
    with pytest.raises(ActMaxError, match="is empty; give at least one unit id"):
        visualization("unused", units="")


@pytest.mark.slow
def test_a_resumed_training_continues_its_folder_and_a_new_one_is_refused(tmp_path):
    renders = str(tmp_path / "renders")
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpts"), save_top_k=-1, filename="{epoch}")
    first = visualization(renders, every_n_steps=None)
    train(tmp_path, first, max_epochs=2, enable_checkpointing=True, callbacks=[first, checkpoints])
    second = visualization(renders, every_n_steps=None)
    train(tmp_path, second, enable_checkpointing=True, callbacks=[second], ckpt_path=str(tmp_path / "ckpts" / "epoch=1.ckpt"))
    history = json.loads((tmp_path / "renders" / "evolution.json").read_text())
    assert [r["step"] for r in history["renders"]] == [0, 6, 12, 18] and second.rendered_steps == [0, 6, 12, 18]
    assert (tmp_path / "renders" / "site" / "units" / "output" / "unit_00003.html").is_file()
    with pytest.raises(ConfigError, match="holds the renders of another training run; give FeatureVisualization "
                                          "another dirpath"):
        train(tmp_path, visualization(renders, every_n_steps=None))


def read_events(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = log_dir.rglob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events.parent), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


@pytest.mark.slow
def test_images_land_in_tensorboard_csv_wandb_and_mlflow(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    pytest.importorskip("mlflow")
    kinds = pl.loggers
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    loggers = [kinds.TensorBoardLogger(str(tmp_path / "tb"), name="", version="v"),
               kinds.CSVLogger(str(tmp_path / "csv"), name="", version="v"),
               kinds.WandbLogger(save_dir=str(tmp_path), offline=True, project="watch"),
               kinds.MLFlowLogger(tracking_uri=(tmp_path / "mlruns").as_uri())]
    watch = visualization(None, every_n_steps=None, units="0-3", site=False)
    random_state = random.getstate()
    train(tmp_path, watch, logger=loggers)
    import wandb

    wandb.finish()
    random.setstate(random_state)
    steps = [0, 6, 12, 18]
    folder = tmp_path / "tb" / "v" / "feature_visualization"  # beside the first logger's files
    assert [r["step"] for r in json.loads((folder / "evolution.json").read_text())["renders"]] == steps
    events = read_events(tmp_path / "tb")
    images = events.Images("feature_visualization/output")
    assert [e.step for e in images] == steps
    last = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB"))
    frame = np.asarray(Image.open(folder / "frames/output/unit_00000/step_00000018.png").convert("RGB"))
    assert np.array_equal(last[:16, :16], frame)  # TensorBoard's grid starts with unit 0 (no padding before it)
    assert [e.step for e in events.Scalars("feature_visualization/seconds")] == steps
    assert len(events.Scalars("feature_visualization/output/unit_00003")) == 4
    sheets = sorted(p.name for p in (tmp_path / "csv" / "v" / "images").glob("*.png"))
    assert sheets == [f"feature_visualization_output_step{s:07d}.png" for s in steps]
    assert "feature_visualization/seconds" in (tmp_path / "csv" / "v" / "metrics.csv").read_text().splitlines()[0]
    media = list((tmp_path / "wandb").glob("offline-run-*/files/media/images/feature_visualization/output_*.png"))
    assert len(media) == 4 * len(steps)  # one image per unit and render, captioned by unit
    logged = list((tmp_path / "mlruns").rglob("artifacts/images/feature_visualization~output+step+*.png"))
    assert sorted(int(p.name.split("+step+")[1].split("+")[0]) for p in logged) == steps


@pytest.mark.slow
def test_under_ddp_on_two_processes_the_training_is_bit_for_bit_the_same(tmp_path):
    plain = run_helper("watched_training.py", tmp_path / "plain")
    watched = run_helper("watched_training.py", tmp_path / "watched", 2, "--watch")
    for a, b in zip(plain, watched):
        assert_same_training(a, b)
        assert b["rendered_steps"] == [0, 3, 4, 6, 8, 9] and b["failures"] == 0 and b["global_step"] == 9
    renders = tmp_path / "watched" / "renders"
    history = json.loads((renders / "evolution.json").read_text())
    assert [r["step"] for r in history["renders"]] == [0, 3, 4, 6, 8, 9]
    assert all(r["images"] == 6 for r in history["renders"])  # both ranks' units, gathered on rank 0
    assert len(list(renders.glob("frames/*/unit_*/step_*.png"))) == 6 * 6
