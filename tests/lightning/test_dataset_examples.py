"""Dataset examples: exact streaming top-k (against a brute-force sort), across 2 processes, saved for the gallery.

The scoring helpers are tested in tests/core/test_dataset_scores.py, the command in tests/cli/test_examples.py."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax import Channel
from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.probe import LayerProbe
from lit_actmax.image.io import encode_image, list_images, load_image
from lit_actmax.lightning.dataset_examples import (
    EXAMPLES_FORMAT,
    ImageFolderStream,
    TopKExamples,
    find_examples,
    save_examples,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = "lit_actmax.testing:tiny_backbone"
UNITS = list(range(16))


def brute_force(scores: torch.Tensor, k: int, largest: bool = True) -> list[list[int]]:
    """Per unit, the ids of the k best images by sorting everything: by score, then by the smaller id."""
    sign = -1 if largest else 1
    return [sorted(range(scores.shape[0]), key=lambda n: (sign * float(scores[n, u]), n))[:k]
            for u in range(scores.shape[1])]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """24 images of different sizes and formats in nested folders: skimage photos and synthetic patterns."""
    import skimage.data

    root = tmp_path_factory.mktemp("images")
    (root / "photos").mkdir()
    (root / "synthetic" / "deep").mkdir(parents=True)
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        Image.fromarray(getattr(skimage.data, name)()).save(root / "photos" / f"{name}.jpg", quality=90)
    g = np.random.default_rng(0)
    ys, xs = np.mgrid[0:40, 0:56] / 40.0
    for i in range(20):
        kind = i % 4
        if kind == 0:  # solid colour
            array = np.broadcast_to(g.integers(0, 256, 3), (40, 56, 3))
        elif kind == 1:  # oriented stripes
            angle = g.uniform(0, np.pi)
            wave = np.sin((np.cos(angle) * xs + np.sin(angle) * ys) * g.uniform(3, 30))
            array = (wave[..., None] * 0.5 + 0.5) * g.uniform(0, 255, 3)
        elif kind == 2:  # noise of some contrast
            array = 128 + g.normal(0, g.uniform(5, 90), (40, 56, 3))
        else:  # colour gradient
            array = np.stack([xs * 255 * g.uniform(), ys * 255 * g.uniform(), (1 - xs) * 255 * g.uniform()], -1)
        target = root / "synthetic" / ("deep" if i % 3 == 0 else "") / f"s{i:02d}.png"
        Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(target)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def direct_scores(folder) -> torch.Tensor:
    """(24, 16) channel means of every image at features.2, all images in one batch."""
    files = list_images(folder)
    images = torch.stack([ImageFolderStream(files, 32)[i][0] for i in range(len(files))])
    backbone = load_backbone(TINY)
    with torch.no_grad():
        acts = LayerProbe(backbone.model, ["features.2"])(backbone.preprocess(images))["features.2"]
    return acts.mean((2, 3))


def test_topk_metric_is_exact_with_ties_and_any_batch_order():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (50, 7), generator=g).float()  # many ties: broken by the smaller id
    for largest in (True, False):
        for trial in range(3):
            metric = TopKExamples(7, k=6, largest=largest)
            order = torch.randperm(50, generator=g) if trial else torch.arange(50)
            for chunk in order.split(int(torch.randint(1, 9, (1,), generator=g))):
                metric.update(scores[chunk], chunk)
            values, ids = metric.compute()
            assert ids.tolist() == brute_force(scores, 6, largest)
            assert torch.equal(values, scores.gather(0, ids.t()).t())


def test_topk_metric_with_fewer_images_than_k_and_bad_input():
    metric = TopKExamples(2, k=4)
    metric.update(torch.tensor([[1.0, -1.0], [3.0, 0.0]]), torch.tensor([5, 9]))
    values, ids = metric.compute()
    assert ids.tolist() == [[9, 5, -1, -1], [9, 5, -1, -1]]
    assert values[0, :2].tolist() == [3.0, 1.0]
    with pytest.raises(ValueError, match=r"scores \(B, 2\) and B ids"):
        metric.update(torch.zeros(3, 5), torch.arange(3))


def test_streamed_top_and_bottom_k_equal_a_brute_force_sort(folder, direct_scores):
    module, files = find_examples(TINY, Channel("features.2"), UNITS, folder, k=5, least=True, batch_size=4, size=32)
    for kind, largest in (("top", True), ("bottom", False)):
        values, ids = module.result[kind]
        assert ids.tolist() == brute_force(direct_scores, 5, largest), kind
        expected = direct_scores.gather(0, ids.t()).t()
        assert torch.allclose(values, expected, atol=1e-5), kind
    # a real spread: the best and worst images of a unit differ
    assert (module.result["top"][0][:, 0] - module.result["bottom"][0][:, 0]).min() > 1e-3


@pytest.mark.slow
def test_two_processes_give_the_one_process_answer(folder, direct_scores, tmp_path):
    helper = ROOT / "tests" / "dist_helpers" / "examples_run.py"
    result = subprocess.run([sys.executable, str(helper), str(folder), str(tmp_path)], capture_output=True,
                            text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(p) for p in sorted(tmp_path.glob("rank*.pt"))]
    assert len(ranks) == 2 and all(r["world"] == 2 for r in ranks)
    assert sorted(ranks[0]["seen"] + ranks[1]["seen"]) == list(range(24))  # each image scored exactly once
    assert set(ranks[0]["seen"]).isdisjoint(ranks[1]["seen"])
    for rank in ranks:  # both ranks hold the synced, exact answer
        assert rank["result"]["top"][1].tolist() == brute_force(direct_scores, 5, True)
        assert rank["result"]["bottom"][1].tolist() == brute_force(direct_scores, 5, False)
    # the strategy destroyed the process group before the interpreter's finalization (left to it, gloo's
    # threads could abort the process after a successful run)
    assert [(tmp_path / f"exit_rank{r}.txt").read_text() for r in range(2)] == ["False", "False"]


def test_saved_examples_list_each_units_images_with_the_models_view_as_thumbnails(folder, tmp_path):
    module, files = find_examples(TINY, Channel("features.2"), [2, 5], folder, k=3, least=True, batch_size=8, size=32)
    path = save_examples(tmp_path / "run", module, files, folder, thumb=24)
    assert path == tmp_path / "run" / "examples" / "features.2" / "examples.json"
    data = json.loads(path.read_text())
    assert data["format"] == EXAMPLES_FORMAT == "lit_actmax.examples/1"  # readers check it: it never changes
    assert data["objective"] == "Channel(features.2)" and data["images"] == 24 and set(data["units"]) == {"2", "5"}
    assert data["k"] == 3 and data["size"] == 32 and data["folder"] == str(folder.resolve())
    for lists in data["units"].values():
        assert len(lists["top"]) == 3 and len(lists["bottom"]) == 3
        tops = [e["activation"] for e in lists["top"]]
        assert tops == sorted(tops, reverse=True) and tops[0] > lists["bottom"][0]["activation"]
        for entry in lists["top"] + lists["bottom"]:
            assert files[entry["id"]] == folder / entry["source"]
            thumb = (tmp_path / "run" / entry["image"]).read_bytes()
            view = load_image(files[entry["id"]], 24)[0]  # the centre crop the model saw
            assert thumb == encode_image(view, "JPEG", quality=90) and Image.open(io.BytesIO(thumb)).size == (24, 24)
