"""Metrics: agree with direct computations, sync across 2 processes, and reach index, records and logger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_lightning.loggers import CSVLogger
from torchmetrics.functional.image import structural_similarity_index_measure as ssim

from lit_actmax import ActMaxModule, Channel, ClassLogit, Compose, Pixel
from lit_actmax.callbacks.quality_metrics import QualityMetrics
from lit_actmax.lightning.metrics import (
    BestActivation,
    Transferability,
    VariantDiversity,
    judge_logits,
    pairwise_feature_distance,
    pairwise_ssim_distance,
    target_ranks,
    unit_pairs,
)
from lit_actmax.testing import tiny_backbone

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dist_helpers"))
from launch import run_helper  # noqa: E402
from see_results_run import KeepImages  # noqa: E402

TINY = "lit_actmax.testing:tiny_backbone"


def direct_ranks(logits: torch.Tensor, targets: torch.Tensor) -> list[int]:
    """Position of each target in its row sorted by descending logit (a full sort, no shortcut)."""
    return [int((row.argsort(descending=True) == t).nonzero()) for row, t in zip(logits, targets)]


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return 1.0 - float(a @ b / (a.norm() * b.norm()))


def expected_metrics(d: dict[str, torch.Tensor], num_units: int) -> dict:
    """Per-unit best activation, diversity and top-1/top-5 rates with plain loops."""
    best = torch.full((num_units,), float("nan"))
    div_ssim, div_feature = torch.full((num_units,), float("nan")), torch.full((num_units,), float("nan"))
    for unit in d["units"].unique().tolist():
        rows = (d["units"] == unit).nonzero().flatten().tolist()
        best[unit] = max(float(d["activations"][r]) for r in rows)
        a, b = rows
        div_ssim[unit] = 1 - float(ssim(d["images"][a:a + 1], d["images"][b:b + 1], data_range=1.0))
        div_feature[unit] = cosine_distance(d["features"][a], d["features"][b])
    ranks = direct_ranks(d["logits"], d["units"])
    return {"best": best, "ssim": div_ssim, "feature": div_feature,
            "top1": np.mean([r < 1 for r in ranks]), "top5": np.mean([r < 5 for r in ranks])}


@pytest.mark.slow
def test_metrics_sync_across_two_processes(tmp_path):
    from metrics_sync import NUM_UNITS, data

    ranks = run_helper("metrics_sync.py", tmp_path)
    want = expected_metrics(data(), NUM_UNITS)
    for got in ranks:  # every rank computes the same, full result although it saw half of the data
        assert torch.allclose(got["best"], want["best"], equal_nan=True)
        assert torch.allclose(got["diversity"]["ssim"], want["ssim"], atol=1e-5, equal_nan=True)
        assert torch.allclose(got["diversity"]["feature"], want["feature"], atol=1e-5, equal_nan=True)
        assert got["transfer"]["count"] == 12
        assert float(got["transfer"]["top1"]) == pytest.approx(want["top1"])
        assert float(got["transfer"]["top5"]) == pytest.approx(want["top5"])
        assert got["gathered"].tolist() == [0, 1, 2, 10, 11, 12, 13]  # 3 rows from rank 0, 4 from rank 1
        assert got["gathered_flags"].tolist() == [True, False, True, True, False, True, True]
    assert 0 < want["top1"] < want["top5"] < 1  # the data exercise both outcomes


def test_best_activation_against_a_loop():
    g = torch.Generator().manual_seed(1)
    units, values = torch.randint(0, 6, (40,), generator=g), torch.randn(40, generator=g)
    metric = BestActivation(8)
    for chunk in range(0, 40, 7):
        metric.update(units[chunk:chunk + 7], values[chunk:chunk + 7])
    got = metric.compute()
    for unit in range(8):
        seen = values[units == unit]
        assert (torch.isnan(got[unit]) if seen.numel() == 0 else got[unit] == seen.max()), unit
    with pytest.raises(ValueError, match=r"Unit ids must lie in 0-7 .*num_units=8"):
        metric.update(torch.tensor([8]), torch.tensor([1.0]))


def test_pairwise_distances_have_known_values():
    g = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 24, 24, generator=g)
    images = torch.cat([image, image, 1 - image])
    pairs = unit_pairs(torch.tensor([4, 4, 4]))
    assert pairs == [(0, 1), (0, 2), (1, 2)]
    distance = pairwise_ssim_distance(images, pairs)
    assert distance[0].abs() < 1e-6 and distance[1] > 0.5  # identical images: 0; inverted image: far
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert torch.allclose(pairwise_feature_distance(features, pairs), torch.tensor([0.0, 2.0, 2.0]))
    small = torch.rand(2, 3, 8, 8, generator=g)  # smaller than the 11 px Gaussian window: still defined
    assert pairwise_ssim_distance(small, [(0, 1)]).isfinite().all()


def test_ssim_distance_is_close_to_scikit_image():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(3)
    a = torch.rand(3, 48, 48, generator=g)
    b = (0.6 * a + 0.4 * torch.rand(3, 48, 48, generator=g)).clamp(0, 1)
    ours = 1 - float(pairwise_ssim_distance(torch.stack([a, b]), [(0, 1)]))
    reference = structural_similarity(a.permute(1, 2, 0).numpy(), b.permute(1, 2, 0).numpy(), data_range=1.0,
                                      channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ours == pytest.approx(reference, abs=0.02)  # the two differ only in how borders are treated


def test_target_ranks_and_transferability():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0, -2.0, -3.0],
                           [5.0, 1.0, 1.0, 0.0, 0.0, 0.0, 9.0],
                           [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    targets = torch.tensor([1, 2, 3])
    assert target_ranks(logits, targets).tolist() == [0, 2, 0]  # ties do not count against the target
    metric = Transferability()
    metric.update(logits, targets)
    metric.update(logits[:1], torch.tensor([6]))  # rank 6: neither top-1 nor top-5
    result = metric.compute()
    assert result["count"] == 4 and float(result["top1"]) == 0.5 and float(result["top5"]) == 0.75


def class_run(tmp_path: Path, make_trainer, callback: QualityMetrics, **trainer_options):
    module = ActMaxModule(backbone=TINY, objective=ClassLogit(), units="0,3,4", size=32, batch_size=4, variants=2,
                          steps_per_epoch=3, epochs=1, param=Pixel(), transforms=Compose([]), seed=5,
                          optimizer=lambda p: torch.optim.Adam(p, lr=0.1), out_dir=str(tmp_path / "runs"))
    keep = KeepImages()
    make_trainer(callbacks=[callback, keep], **trainer_options).fit(module)
    index = json.loads((module.run_dir / "index.json").read_text())
    return module, index, keep.images


def check_run_metrics(index: dict, images: dict[tuple[int, int], torch.Tensor]) -> None:
    """Index metrics and record extras == direct computations on the finished float images (keyed by KeepImages'
    ``(unit, variant, target)``; one target here)."""
    images = {(key[0], key[1]): image for key, image in images.items()}
    records = {(r["unit"], r["variant"]): r for r in index["units"]}
    metrics = index["metrics"]
    units = sorted({u for u, _ in records})
    for unit in units:
        best = max(records[(unit, v)]["activation"] for v in (0, 1))
        assert metrics["best_activation"]["per_unit"][str(unit)] == pytest.approx(best, abs=1e-6)
        distance = 1 - float(ssim(images[(unit, 0)][None], images[(unit, 1)][None], data_range=1.0))
        assert records[(unit, 0)]["diversity_ssim"] == pytest.approx(distance, abs=1e-5)
    keys = sorted(records)
    stack = torch.stack([images[k] for k in keys])
    targets = torch.tensor([u for u, _ in keys])
    source, judge = tiny_backbone(), tiny_backbone(seed=1)
    with torch.no_grad():
        source_ranks = direct_ranks(source.model(source.preprocess(stack)), targets)
        judge_ranks = direct_ranks(judge.model(judge.preprocess(stack)), targets)
    assert [records[k]["source_rank"] for k in keys] == source_ranks
    assert [records[k]["judge_rank"] for k in keys] == judge_ranks
    for name, ranks in (("source_transfer", source_ranks), ("judge_transfer", judge_ranks)):
        assert metrics[name]["count"] == len(keys)
        assert metrics[name]["top1"] == pytest.approx(np.mean([r < 1 for r in ranks]), abs=1e-6)
        assert metrics[name]["top5"] == pytest.approx(np.mean([r < 5 for r in ranks]), abs=1e-6)
    assert metrics["diversity"]["units"] == len(units)


def test_quality_metrics_in_a_run_match_direct_computation(tmp_path, make_trainer):
    logger = CSVLogger(str(tmp_path / "csv"), name="", version="v")
    callback = QualityMetrics(judge=tiny_backbone(seed=1))
    module, index, images = class_run(tmp_path, make_trainer, callback, logger=logger)
    check_run_metrics(index, images)
    assert index["metrics"]["judge_transfer"]["judge"] == TINY
    assert index["metrics"]["source_transfer"]["top1"] > 0  # source sees its own classes ...
    header = (Path(logger.log_dir) / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"metrics/best_activation_mean", "metrics/judge_transfer_top1", "metrics/diversity_ssim_distance"} <= set(header)


def test_a_run_stopped_early_still_gets_the_metrics_of_its_finished_units(tmp_path, make_trainer):
    module, index, images = class_run(tmp_path, make_trainer, QualityMetrics(judge=tiny_backbone(seed=1)), max_steps=3)
    assert sorted({r["unit"] for r in index["units"]}) == [0, 3]  # the second group (unit 4) never ran
    assert sorted(index["metrics"]["best_activation"]["per_unit"]) == ["0", "3"]
    check_run_metrics(index, images)


@pytest.mark.slow
def test_quality_metrics_sync_across_two_processes_in_a_run(tmp_path):
    ranks = run_helper("see_results_run.py", tmp_path)
    assert ranks[0]["units"] == [0, 2, 4] and ranks[1]["units"] == [1, 3]
    assert ranks[0]["results"] == ranks[1]["results"]  # both ranks computed the synced numbers
    index = json.loads((Path(ranks[0]["run_dir"]) / "index.json").read_text())
    assert index["metrics"] == ranks[0]["results"]
    assert index["metrics"]["judge_transfer"]["count"] == 10 and index["metrics"]["diversity"]["units"] == 5
    check_run_metrics(index, {**ranks[0]["images"], **ranks[1]["images"]})


def test_state_resumes_and_bad_settings_are_refused(tmp_path, make_trainer):
    callback = QualityMetrics()
    callback.metrics = {"best": BestActivation(4), "diversity": VariantDiversity(4), "source": Transferability()}
    callback.metrics["best"].update(torch.tensor([1, 2]), torch.tensor([0.5, -1.0]))
    restored = QualityMetrics()
    restored.load_state_dict(callback.state_dict())  # before setup: kept until the metrics exist
    restored.metrics = {"best": BestActivation(4)}
    restored.load_state_dict(restored._pending_state)
    assert torch.equal(restored.metrics["best"].compute().nan_to_num(-9), torch.tensor([-9, 0.5, -1.0, -9]))
    with pytest.raises(ValueError, match="judge_views must be 0 or positive"):
        QualityMetrics(judge_views=-1)
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-1", size=32, batch_size=2,
                          steps_per_epoch=1, epochs=1, save_outputs=False)
    with pytest.raises(ValueError, match=r"judges class visualizations, but the objective is Channel\(features.2\)"):
        make_trainer(callbacks=[QualityMetrics(judge=TINY)]).fit(module)


def test_judge_views_average_over_random_views():
    judge = tiny_backbone(seed=1)
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(4))
    plain = judge_logits(judge, images)
    assert plain.shape == (3, 10)
    with torch.no_grad():  # views=0: the image resized to the judge's input size (32 px)
        resized = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", antialias=True)
        assert torch.allclose(plain, judge.model(judge.preprocess(resized)), atol=1e-5)
    robust = judge_logits(judge, images, views=4, seed=0)  # mean log-probabilities over 4 random views
    assert robust.shape == (3, 10) and robust.isfinite().all() and (robust <= 0).all()
    assert not torch.allclose(robust, plain.log_softmax(-1), atol=1e-3)  # the views do move the image
    assert torch.equal(robust, judge_logits(judge, images, views=4, seed=0))  # seeded


@pytest.mark.slow
def test_real_judge_lite2_recognizes_photos():
    """The independent judge (EfficientNet-Lite2) classifies real photos: cat and espresso are top-5 hits."""
    from skimage import data

    from lit_actmax.backbones import load_backbone

    judge = load_backbone("lite2")
    square = [data.chelsea()[:, 50:350], data.coffee()[:, 100:500]]  # centre-ish square crops
    photos = torch.cat([torch.nn.functional.interpolate(
        torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float() / 255, size=(224, 224),
        mode="bilinear", antialias=True) for im in square])
    metric = Transferability()
    metric.update(judge_logits(judge, photos), torch.tensor([285, 967]))
    assert float(metric.compute()["top5"]) == 1.0
    metric.update(judge_logits(judge, photos), torch.tensor([967, 285]))  # swapped labels: misses
    assert float(metric.compute()["top5"]) == 0.5


@pytest.mark.slow
def test_see_results_fragment_end_to_end(tmp_path, monkeypatch):
    """configs/callbacks/see_results.yaml from the CLI: TensorBoard images, curves, alpha maps, metrics, gallery."""
    import yaml

    from lit_actmax.cli.main import main

    config = {
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_checkpointing": False, "enable_progress_bar": False},
        "model": {"backbone": TINY, "units": "0-2", "size": 32, "batch_size": 3, "steps_per_epoch": 2, "epochs": 2,
                  "out_dir": str(tmp_path / "runs"), "run_name": "see"},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(tmp_path / "tiny.yaml"),
                 "--config", str(ROOT / "configs/callbacks/see_results.yaml")]) == 0
    run = tmp_path / "runs" / "see" / "version_0"
    index = json.loads((run / "index.json").read_text())
    assert index["metrics"]["judge_transfer"]["judge"] == "lite2" and index["metrics"]["judge_transfer"]["count"] == 3
    record = index["units"][0]
    assert {"activation_curve", "judge_rank", "source_rank"} <= set(record) and "alpha" in record["files"]
    assert (run / "gallery.html").is_file()
    assert list((tmp_path / "lightning_logs" / "actmax").rglob("events.out.tfevents.*"))
