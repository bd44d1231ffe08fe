"""LoggerImages / ActivationCurves: grids in TensorBoard event files, PNG fallback, log_image loggers, curves."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger

from lit_actmax import ActMaxModule, Channel, ClassLogit, Compose, Pixel
from lit_actmax.callbacks.activation_curves import ActivationCurves
from lit_actmax.callbacks.logger_images import LoggerImages, thumbnails

TINY = "lit_actmax.testing:tiny_backbone"


def tiny_module(tmp_path: Path, **overrides) -> ActMaxModule:
    options = dict(backbone=TINY, objective=Channel("features.2"), units="0-5", size=32, batch_size=3,
                   steps_per_epoch=2, epochs=2, param=Pixel(), transforms=Compose([]), out_dir=str(tmp_path / "runs"),
                   run_name="t", optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    options.update(overrides)
    return ActMaxModule(**options)


class StepActivations(pl.Callback):
    """Keep every step's (N,) activations, per group."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps.append((pl_module.group_index, pl_module.step_activations.clone()))


def read_events(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list(log_dir.rglob("events.out.tfevents.*"))
    assert files, f"no event file under {log_dir}"
    accumulator = EventAccumulator(str(files[0].parent), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def decode(event) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))


def test_tensorboard_event_files_hold_the_grids_and_curves(tmp_path, make_trainer):
    module = tiny_module(tmp_path)
    steps = StepActivations()
    logger = TensorBoardLogger(str(tmp_path / "tb"), name="", version="v")
    trainer = make_trainer(logger=logger, callbacks=[LoggerImages(every_n_epochs=1, size=32), ActivationCurves(), steps])
    trainer.fit(module)
    events = read_events(tmp_path / "tb")
    tags = events.Tags()["images"]
    assert set(tags) == {"actmax/features.2", "final/features.2"}
    current = events.Images("actmax/features.2")
    assert [e.step for e in current] == [2, 4, 6, 8]  # after each of 4 epochs (2 groups x 2 epochs, 2 steps each)
    assert all(decode(e).shape == (32, 3 * 32, 3) for e in current)  # a grid of the group's 3 images
    (final,) = events.Images("final/features.2")
    grid = decode(final)
    assert grid.shape == (32, 6 * 32, 3)
    folder = module.run_dir / "images" / "features.2"
    for unit in range(6):  # the final grid shows exactly the saved PNGs, in unit order
        png = np.asarray(Image.open(folder / f"unit_{unit:05d}.png").convert("RGB"))
        assert np.array_equal(grid[:, unit * 32:(unit + 1) * 32], png), unit
    assert grid.std() > 5  # not a blank grid

    # per-unit curves: logger scalars == record curve == mean of the step activations per epoch
    for unit in range(6):
        group, slot = divmod(unit, 3)
        acts = torch.stack([a for g, a in steps.steps if g == group])[:, slot]  # (4 steps,)
        expected = acts.view(2, 2).mean(1)
        scalars = [s.value for s in events.Scalars(f"unit_activation/features.2/unit_{unit:05d}")]
        record = json.loads((folder / f"unit_{unit:05d}.json").read_text())
        assert record["activation_curve"]["steps_per_point"] == 2
        assert np.allclose(record["activation_curve"]["values"], expected.numpy(), atol=1e-5)
        assert np.allclose(scalars, expected.numpy(), atol=1e-5)


def test_csv_logger_gets_png_contact_sheets(tmp_path, make_trainer):
    module = tiny_module(tmp_path, units="0-3", batch_size=4, epochs=2)
    logger = CSVLogger(str(tmp_path / "csv"), name="", version="v")
    callback = LoggerImages(every_n_epochs=2, size=16, curves=True)
    make_trainer(logger=logger, callbacks=[callback]).fit(module)
    pngs = sorted(p.name for p in (Path(logger.log_dir) / "images").glob("*.png"))
    assert pngs == ["actmax_features.2_step0000004.png", "final_features.2_step0000004.png"]
    sheet = Image.open(Path(logger.log_dir) / "images" / pngs[1])
    assert sheet.width >= 4 * 16 and np.asarray(sheet).std() > 5
    metrics = (Path(logger.log_dir) / "metrics.csv").read_text().splitlines()[0]
    assert "unit_activation/features.2/unit_00003" in metrics


def test_a_run_stopped_early_still_logs_the_final_images_it_has(tmp_path, make_trainer):
    module = tiny_module(tmp_path, units="0-8", batch_size=3, steps_per_epoch=2, epochs=2)  # 3 groups of 4 steps
    logger = TensorBoardLogger(str(tmp_path / "tb"), name="", version="v")
    callback = LoggerImages(every_n_epochs=0, size=32, curves=False)
    make_trainer(logger=logger, callbacks=[callback], max_steps=6).fit(module)  # stops inside the second of 3 groups
    assert module.group_index == 1 and module.global_step == 6
    (final,) = read_events(tmp_path / "tb").Images("final/features.2")
    assert final.step == 6 and decode(final).shape == (32, 6 * 32, 3)  # group 0 finished + group 1 as it stopped
    assert callback.logged == [("final/features.2", 6, 6)]
    assert callback._final_images == [] and not callback._final_pending


def test_no_logger_falls_back_to_the_run_directory(tmp_path, make_trainer):
    module = tiny_module(tmp_path, units="0-1", batch_size=2, epochs=1)
    make_trainer(logger=False, callbacks=[LoggerImages(every_n_epochs=1)]).fit(module)
    assert sorted(p.name for p in (module.run_dir / "logged_images").iterdir()) == [
        "actmax_features.2_step0000002.png", "final_features.2_step0000002.png"]


class ImageLogger(Logger):
    """A W&B-like logger: anything with ``log_image(key, images, step, caption=...)``."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, list, int, list]] = []
        self.metrics: list[dict] = []

    name = "fake"
    version = 0

    @property
    def experiment(self):
        return None

    def log_image(self, key, images, step=None, **kwargs):
        self.images.append((key, images, step, kwargs["caption"]))

    def log_metrics(self, metrics, step=None):
        self.metrics.append(dict(metrics))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def test_log_image_loggers_get_captioned_images(tmp_path, make_trainer):
    module = tiny_module(tmp_path, backbone=TINY, objective=ClassLogit(), units="3,7", batch_size=2, epochs=1,
                         steps_per_epoch=1)
    logger = ImageLogger()
    make_trainer(logger=logger, callbacks=[LoggerImages(every_n_epochs=0, max_images=1)]).fit(module)
    assert [(k, s, c) for k, _, s, c in logger.images] == [
        ("final/output/page_0", 1, ["3 class_3"]), ("final/output/page_1", 1, ["7 class_7"])]
    assert logger.images[0][1][0].shape == (32, 32, 3) and logger.images[0][1][0].dtype == np.uint8
    assert any("unit_activation/output/unit_00007" in m for m in logger.metrics)


def test_thumbnails_and_bad_settings():
    images = torch.rand(2, 3, 64, 32)
    small = thumbnails(images, 16)
    assert small.shape == (2, 3, 16, 8) and small.dtype == torch.uint8
    assert thumbnails(images, 128).shape == (2, 3, 64, 32)  # never enlarged
    with pytest.raises(ValueError, match="every_n_epochs must be 0"):
        LoggerImages(every_n_epochs=-1)


@pytest.mark.slow
def test_two_processes_log_every_rank_units_once(tmp_path):
    """Every rank takes part in the gathers; only rank 0 writes: one event file with all 5 units x 2 variants."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dist_helpers"))
    from launch import run_helper

    rank0, rank1 = run_helper("see_results_run.py", tmp_path)
    assert rank0["units"] == [0, 2, 4] and rank1["units"] == [1, 3]
    assert rank1["logged"] == []  # rank 1 gathers, but writes nothing
    # group 0: units 0, 2 (rank 0) and 1, 3 (rank 1), 2 variants each; group 1: unit 4 (rank 1 only pads); finals
    assert rank0["logged"] == [("actmax/output", 2, 8), ("actmax/output", 4, 2), ("final/output", 4, 10)]
    assert len(list((tmp_path / "tb").rglob("events.out.tfevents.*"))) == 1
    events = read_events(tmp_path / "tb")
    (final,) = events.Images("final/output")
    grid = decode(final)
    folder = Path(rank0["run_dir"]) / "images" / "output"
    stems = [f"unit_{u:05d}_v{v}" for u in range(5) for v in range(2)]
    for i, stem in enumerate(stems):  # tiles in (unit, variant) order == the saved PNGs
        png = np.asarray(Image.open(folder / f"{stem}.png").convert("RGB"))
        tile = grid[(i // 8) * 32:(i // 8 + 1) * 32, (i % 8) * 32:(i % 8 + 1) * 32]
        assert np.array_equal(tile, png), stem
        record = json.loads((folder / f"{stem}.json").read_text())
        scalars = [s.value for s in events.Scalars(f"unit_activation/output/{stem}")]
        assert np.allclose(scalars, record["activation_curve"]["values"], atol=1e-5), stem


def test_config_fragment_runs_from_the_cli(tmp_path, monkeypatch):
    """configs/callbacks/logger_images.yaml: TensorBoard logger + LoggerImages + ActivationCurves from YAML."""
    import yaml

    from lit_actmax.cli.main import main

    root = Path(__file__).resolve().parents[2]
    config = {
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_checkpointing": False, "enable_progress_bar": False},
        "model": {"backbone": TINY, "units": "0-1", "size": 32, "batch_size": 2, "steps_per_epoch": 2, "epochs": 1,
                  "objective": {"class_path": "lit_actmax.objectives.Channel", "init_args": {"layer": "features.2"}},
                  "out_dir": str(tmp_path / "runs"), "run_name": "cli"},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(tmp_path / "tiny.yaml"), "--config",
                 str(root / "configs/callbacks/logger_images.yaml")]) == 0
    events = read_events(tmp_path / "lightning_logs" / "actmax")
    assert set(events.Tags()["images"]) == {"actmax/features.2", "final/features.2"}
    record = json.loads((tmp_path / "runs/cli/version_0/images/features.2/unit_00001.json").read_text())
    assert len(record["activation_curve"]["values"]) == 1


def test_state_survives_a_checkpoint():
    """Final thumbnails of groups finished before a preemption are kept in the callback state."""
    callback = LoggerImages()
    callback._final_images = [torch.full((3, 4, 4), 7, dtype=torch.uint8), torch.zeros(3, 4, 4, dtype=torch.uint8)]
    callback._final_keys = [(5, 0), (9, 1)]
    callback.epochs.add(torch.tensor([1.0, 3.0]))
    restored = LoggerImages()
    restored.load_state_dict(callback.state_dict())
    assert restored._final_keys == [(5, 0), (9, 1)]
    assert torch.equal(torch.stack(restored._final_images), torch.stack(callback._final_images))
    assert torch.equal(restored.epochs.end_epoch(), torch.tensor([1.0, 3.0]))


def test_mlflow_gets_the_grids_and_the_unit_images_as_artifacts(tmp_path, make_trainer, monkeypatch):
    """A local MLflow file store (``MLFLOW_ALLOW_FILE_STORE``: MLflow 3 keeps it in maintenance mode)."""
    pytest.importorskip("mlflow")
    from pytorch_lightning.loggers import MLFlowLogger

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    logger = MLFlowLogger(experiment_name="actmax", tracking_uri=f"file:{tmp_path / 'mlruns'}")
    module = tiny_module(tmp_path)
    make_trainer(logger=logger, callbacks=[LoggerImages(every_n_epochs=1)]).fit(module)
    artifacts = tmp_path / "mlruns" / logger.experiment_id / logger.run_id / "artifacts"
    units = sorted(p.relative_to(artifacts).as_posix() for p in artifacts.glob("lit_actmax/images/*/unit_*.png"))
    assert units == [f"lit_actmax/images/features.2/unit_{u:05d}.png" for u in range(6)]
    for name in units:  # the artifacts are the run's own images, byte for byte
        assert (artifacts / name).read_bytes() == (module.run_dir / name.removeprefix("lit_actmax/")).read_bytes()
    assert (artifacts / "lit_actmax" / "grids" / "features.2.png").is_file()
    assert json.loads((artifacts / "lit_actmax" / "index.json").read_text())["units"]
    grids = [p.name for p in (artifacts / "images").glob("*.png")]  # the grids while they were optimized, and final
    assert any(name.startswith("actmax~features.2") for name in grids) and any(name.startswith("final~") for name in grids)
    assert not (module.run_dir / "logged_images").exists()  # nothing fell back to the run folder
