"""The HTML gallery: built at the end of a run, shows every image file that exists and nothing that doesn't."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, ClassLogit, Compose, ConfigError, Jitter, Pixel
from lit_actmax.callbacks import ActMaxCallback, BestImage, Gif, Transparency
from lit_actmax.callbacks.activation_curves import ActivationCurves
from lit_actmax.callbacks.quality_metrics import QualityMetrics
from lit_actmax.callbacks.write_gallery import WriteGallery
from lit_actmax.cli.main import main
from lit_actmax.html.gallery import build_gallery
from lit_actmax.html.markup import referenced_files
from lit_actmax.run.records import image_stem
from lit_actmax.testing import tiny_backbone

TINY = "lit_actmax.testing:tiny_backbone"


class StaleFileEntry(ActMaxCallback):
    """A record entry whose file was never written (a callback that failed half-way, a file deleted later)."""

    def on_units_finished(self, trainer, pl_module, finished) -> None:
        for i, (unit, variant) in enumerate(zip(finished.units, finished.variants)):
            stem = image_stem(unit, variant, pl_module.schedule.variants)
            finished.files[i]["stale"] = str(pl_module.writer.unit_dir.relative_to(pl_module.run_dir) / f"{stem}_gone.png")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("gallery")
    module = ActMaxModule(backbone=TINY, objective=ClassLogit(), units="0-3", size=32, batch_size=4, variants=2,
                          steps_per_epoch=2, epochs=2, param=Pixel(), transforms=Compose([Jitter(2)]),
                          optimizer=lambda p: torch.optim.Adam(p, lr=0.05), out_dir=str(tmp / "runs"), run_name="g")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[BestImage(replace=False), Gif(every=2), Transparency(), StaleFileEntry(), ActivationCurves(),
                                    QualityMetrics(judge=tiny_backbone(seed=1)), WriteGallery()])
    trainer.fit(module)
    return module.run_dir


def test_the_run_writes_a_gallery_that_references_only_existing_files(run):
    page = (run / "gallery.html").read_text()
    links = referenced_files(page)
    assert links and all((run / link).is_file() for link in links), [link for link in links if not (run / link).is_file()]
    assert not re.search(r'(?:src|href)="https?:', page)  # opens offline
    index = json.loads((run / "index.json").read_text())
    for record in index["units"]:
        assert record["image"] in links
        for name in ("alpha", "gif", "best"):  # transparency map, GIF of the optimization, best image seen
            assert record["files"][name] in links, name
        assert record["files"]["transparency"] in links  # the raw .npy map: a download link
        assert record["files"]["stale"] not in links and not (run / record["files"]["stale"]).exists()
    assert page.count('<svg class="curve"') == len(index["units"]) == 8


def test_cards_carry_activation_labels_and_metrics_for_sorting(run):
    page = (run / "gallery.html").read_text()
    index = json.loads((run / "index.json").read_text())
    cards = re.findall(r'<div class="card" data-unit="(\d+)" data-activation="([^"]*)" data-label="([^"]*)"', page)
    assert [int(u) for u, _, _ in cards] == [0, 1, 2, 3]
    for unit, activation, label in cards:
        mine = [r for r in index["units"] if r["unit"] == int(unit)]
        assert float(activation) == pytest.approx(max(r["activation"] for r in mine))
        assert label == f"class_{unit}"
    assert "function sortCards" in page and "sortCards('activation',-1)" in page
    metrics = index["metrics"]
    assert "Run metrics" in page and "<th>judge_transfer</th><td>top1 <b>" in page
    assert f"{metrics['judge_transfer']['top1']:.4g}" in page
    record = index["units"][0]
    assert "judge_rank" in record and f"<td>judge_rank</td><td>{record['judge_rank']}</td>" in page  # variant 0's column


def test_gallery_from_records_only_and_the_cli(run, tmp_path):
    copy = tmp_path / "runs" / "g" / "version_0"
    shutil.copytree(run, copy)
    (copy / "index.json").unlink()  # a crashed run: records, no index
    (copy / "gallery.html").unlink()
    assert main(["gallery", str(copy.parent)]) == 0  # a folder of version_* runs
    page = (copy / "gallery.html").read_text()
    assert page.count('<div class="card"') == 4
    assert all((copy / link).is_file() for link in referenced_files(page))
    assert main(["gallery", str(tmp_path / "nothing_here")]) == 2
    with pytest.raises(ConfigError, match="no rendered units"):
        build_gallery(tmp_path)
