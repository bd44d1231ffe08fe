"""The atlas site: a page per model, layer and unit at stable addresses; every link resolves; thumbnails made once."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_actmax import ActMaxModule, Channel, Compose, ConfigError, Pixel
from lit_actmax.callbacks import BestImage, Gif, Transparency
from lit_actmax.callbacks.activation_curves import ActivationCurves
from lit_actmax.cli.main import main
from lit_actmax.html.gallery import build_gallery
from lit_actmax.html.markup import referenced_files
from lit_actmax.html.site import THUMB_SIDE, build_site, layer_page, unit_page
from lit_actmax.run.files import write_json
from lit_actmax.run.records import INDEX_FORMAT, FinishedUnits, iter_records
from lit_actmax.run.writer import RunWriter, save_png

TINY = "lit_actmax.testing:tiny_backbone"
CLASS_NAMES = ["tench", 'a <b>bold</b> & "quoted" class', "goldfish", "shark"]


def write_layer(run_dir: Path, layer: str, objective: str, units: list[int], variants: int = 1, size: int = 32,
                class_names: list[str] | None = None, seed: int = 0) -> None:
    """Records and PNGs of ``units`` (x ``variants``) of ``layer``, as a run writes them, with curves and best steps."""
    writer = RunWriter(run_dir, layer=layer, variants=variants, objective=objective, steps=8, class_names=class_names)
    generator = torch.Generator().manual_seed(seed)
    pairs = [(u, v) for u in units for v in range(variants)]
    finished = FinishedUnits(units=[u for u, _ in pairs], variants=[v for _, v in pairs],
                             images=torch.rand(len(pairs), 3, size, size, generator=generator),
                             activations=torch.rand(len(pairs), generator=generator) * 10, valid=[True] * len(pairs))
    for i, (unit, _) in enumerate(pairs):
        finished.extras[i].update(best_step=6, activation_curve={"values": [0.1, 0.5 + unit, 1.0 + unit],
                                                                 "steps_per_point": 4})
    writer.write_units(finished)


def add_files(run_dir: Path, layer_folder: str, unit: int) -> dict[str, str]:
    """A GIF, a transparency map (PNG and .npy), a best image, a file whose name needs URL quoting, and an entry whose
    file was never written, added to ``unit``'s record (variant 0)."""
    folder = run_dir / "images" / layer_folder
    stem = f"unit_{unit:05d}_v0"
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(folder / f"{stem}.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    save_png(folder / f"{stem}_alpha.png", np.full((32, 32), 128, np.uint8))
    np.save(folder / f"{stem}_transparency.npy", np.zeros((32, 32), np.float32))
    save_png(folder / f"{stem}_best.png", np.full((32, 32, 3), 200, np.uint8))
    save_png(folder / f"{stem} sketch #1.png", np.full((32, 32, 3), 50, np.uint8))
    files = {name: f"images/{layer_folder}/{stem}{suffix}" for name, suffix in (
        ("gif", ".gif"), ("alpha", "_alpha.png"), ("transparency", "_transparency.npy"), ("best", "_best.png"),
        ("sketch", " sketch #1.png"), ("stale", "_gone.png"))}
    record_path = folder / f"{stem}.json"
    record = json.loads(record_path.read_text())
    record["files"] = files
    write_json(record_path, record)
    return files


def add_examples(run_dir: Path, layer: str, unit: int) -> None:
    """``examples/<layer>/examples.json`` with two most and one least activating image of ``unit``."""
    folder = run_dir / "examples" / layer
    (folder / "thumbs").mkdir(parents=True)
    entries = []
    for index in range(3):
        Image.new("RGB", (96, 96), (40 * index, 90, 160)).save(folder / "thumbs" / f"{index:06d}.jpg")
        entries.append({"id": index, "image": f"examples/{layer}/thumbs/{index:06d}.jpg", "source": f"photo {index}.png",
                        "activation": 3.0 - index})
    write_json(folder / "examples.json", {"format": "lit_actmax.examples/1", "layer": layer, "images": 3, "k": 2,
                                          "units": {str(unit): {"top": entries[:2], "bottom": entries[2:]}}})


def write_index(run_dir: Path, layers: list[str]) -> None:
    """``index.json`` of the records in the run (model order ``layers``), a grid for the first layer, run metrics."""
    save_png(run_dir / "grids" / f"{layers[0]}.png", np.zeros((8, 8, 3), np.uint8))
    write_json(run_dir / "index.json", {
        "format": INDEX_FORMAT, "backbone": TINY, "objective": "Channel(features.2)", "regularizers": [],
        "layers": layers, "param": "Pixel()", "size": [32, 32], "steps_per_unit": 8, "seed": 0, "world_size": 1,
        "config": {"units": "0-5"}, "grids": {layers[0]: f"grids/{layers[0]}.png"},
        "units": list(iter_records(run_dir)), "metrics": {"judge_transfer": {"top1": 0.5}}})


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """Two layers: ``features.10`` (6 channels, 2 variants each, files and examples for unit 0) and ``output``
    (4 classes, one with a name full of HTML); ``features.10`` comes first in the model but last by name."""
    run_dir = tmp_path_factory.mktemp("site") / "run"
    write_layer(run_dir, "features.10", "Channel(features.10)", list(range(6)), variants=2)
    write_layer(run_dir, "output", "ClassLogit(output)", list(range(4)), class_names=CLASS_NAMES, seed=1)
    add_files(run_dir, "features.10", 0)
    add_examples(run_dir, "features.10", 0)
    write_index(run_dir, ["features.10", "output"])
    build_site(run_dir)
    return run_dir


def pages_of(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_page_is_at_its_stable_address_and_every_reference_resolves(run):
    site = run / "site"
    expected = {"index.html", layer_page("features.10"), layer_page("output")}
    expected |= {unit_page("features.10", u) for u in range(6)} | {unit_page("output", u) for u in range(4)}
    assert {str(p.relative_to(site)) for p in pages_of(site)} == expected
    assert unit_page("features.10", 5) == "units/features.10/unit_00005.html"
    for page in pages_of(site):
        document = page.read_text()
        assert not re.search(r'(?:src|href)="(?:https?:)?//', document), page  # no network
        links = referenced_files(document)
        assert links, page
        missing = [link for link in links if not (page.parent / link).is_file()]
        assert not missing, (page, missing)
        assert re.search(r'<html lang="en"><head>.*performance\.getEntriesByType\(\'navigation\'\)', document)


def test_the_model_page_lists_layers_in_model_order_with_their_numbers(run):
    page = (run / "site" / "index.html").read_text()
    rows = re.findall(r'<tr><td><a href="layers/([^"]+)\.html"><b>([^<]+)</b>', page)
    assert rows == [("features.10", "features.10"), ("output", "output")]  # the index's order, not the names'
    index = json.loads((run / "index.json").read_text())
    output = [r["activation"] for r in index["units"] if r["layer"] == "output"]
    assert f"{min(output):.4g} – {max(output):.4g}" in page
    assert "ClassLogit(output)" in page and "<td class=\"num\">6</td>" in page and "<td class=\"num\">4</td>" in page
    strip = re.search(r'layers/output\.html.*?<div class="strip">(.*?)</div>', page).group(1)
    best_first = sorted(range(4), key=lambda u: -output[u])
    assert re.findall(r'href="units/output/unit_0000(\d)\.html"', strip) == [str(u) for u in best_first]
    assert "judge_transfer" in page and TINY in page and 'href="../grids/features.10.png"' in page


def test_a_layer_page_has_lazy_fixed_size_cards_that_sort_and_filter(run):
    page = (run / "site" / layer_page("output")).read_text()
    cards = re.findall(r'<a class="card" href="../units/output/unit_(\d+)\.html" data-unit="(\d+)" '
                       r'data-activation="([^"]*)" data-label="([^"]*)">', page)
    assert [int(card[1]) for card in cards] == [0, 1, 2, 3]
    assert cards[1][3] == "a &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; class"  # lowercased, escaped
    assert "<b>bold</b>" not in page
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 4 and all('loading="lazy"' in i and f'width="{THUMB_SIDE}" height="{THUMB_SIDE}"' in i
                                    for i in images)
    assert "function sortCards" in page and "sortCards('activation',-1)" in page and "function filterCards" in page
    assert 'oninput="filterCards(this.value)"' in page and '<span id="shown">4</span>' in page
    assert 'rel="prev" href="features.10.html"' in page  # the previous layer of the model


def test_a_unit_page_shows_variants_every_existing_file_curve_examples_and_numbers(run):
    page = (run / "site" / unit_page("features.10", 0)).read_text()
    links = referenced_files(page)
    for name in ("unit_00000_v0.png", "unit_00000_v1.png", "unit_00000_v0.gif", "unit_00000_v0_alpha.png",
                 "unit_00000_v0_best.png", "unit_00000_v0 sketch #1.png", "unit_00000_v0_transparency.npy"):
        assert f"../../../images/features.10/{name}" in links, name
    assert "sketch%20%231.png" in page  # URL-quoted
    assert "_gone.png" not in page  # a file the record lists but nobody wrote
    assert re.search(r'<img class="unit alpha" src="[^"]+_alpha\.png"', page)
    assert 'width="256" height="256"' in page  # drawn large
    assert page.count('<svg class="curve"') == 2 and "variant 1" in page
    assert page.count("../../../examples/features.10/thumbs/") == 3 and "most activating" in page
    assert "<td>best_step</td><td>6</td><td>6</td>" in page
    assert 'rel="next" href="unit_00001.html"' in page and 'rel="prev"' not in page
    assert 'href="../../index.html"' in page and 'href="../../layers/features.10.html"' in page
    last = (run / "site" / unit_page("output", 3)).read_text()
    assert 'rel="prev" href="unit_00002.html"' in last and 'rel="next"' not in last and "shark" in last


def test_thumbnails_are_small_and_made_only_when_missing_or_older(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    site = copy / "site"
    thumbs = sorted(site.glob("thumbs/*/*.jpg"))
    assert len(thumbs) == 10  # one per unit: its most activating variant
    assert all(max(Image.open(t).size) == THUMB_SIDE for t in thumbs)  # 32 px images enlarged 3x, sharp
    build_site(copy)  # the copy's model page names its new folder
    stamps = {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}
    build_site(copy)
    assert {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()} == stamps  # nothing written again

    changed = copy / "images" / "output" / "unit_00002.png"
    save_png(changed, np.zeros((32, 32, 3), np.uint8))
    os.utime(changed, ns=(stamps[site / "index.html"] + 10**9,) * 2)
    write_layer(copy, "features.3", "Channel(features.3)", [0, 1], size=200, seed=2)  # a layer added to the run
    build_site(copy)
    rewritten = {p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp}
    assert {p.relative_to(site).as_posix() for p in rewritten if p.suffix == ".jpg"} == {"thumbs/output/unit_00002.jpg"}
    assert Image.open(site / "thumbs" / "output" / "unit_00002.jpg").getextrema()[0][1] < 20  # the new image
    assert max(Image.open(site / "thumbs" / "features.3" / "unit_00000.jpg").size) == THUMB_SIDE  # 200 px shrunk
    assert (site / unit_page("features.3", 1)).is_file()
    assert not any("units/features.10" in p.as_posix() for p in rewritten)  # untouched layers keep their pages


def test_an_unfinished_run_without_index_gets_a_site_from_its_records(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "index.json").unlink()
    shutil.rmtree(copy / "site")
    page = build_site(copy).read_text()
    assert "unfinished run" in page and "index.json" not in re.sub(r"no index\.json", "", page)
    assert re.findall(r'href="layers/([^"]+)\.html"><b>', page) == ["features.10", "output"]  # natural order
    assert (copy / "site" / unit_page("output", 3)).is_file()


def test_a_real_run_with_result_callbacks(tmp_path, make_trainer):
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-1", size=32, batch_size=2,
                          steps_per_epoch=2, epochs=2, param=Pixel(), transforms=Compose([]), seed=0,
                          optimizer=lambda p: torch.optim.Adam(p, lr=0.05), out_dir=str(tmp_path / "runs"))
    make_trainer(callbacks=[BestImage(replace=False), Gif(every=2), Transparency(), ActivationCurves()]).fit(module)
    build_gallery(module.run_dir)
    page = build_site(module.run_dir).parent / unit_page("features.2", 1)
    document = page.read_text()
    record = json.loads((module.run_dir / "images" / "features.2" / "unit_00001.json").read_text())
    links = referenced_files(document)
    for name in ("gif", "alpha", "best", "transparency"):
        assert os.path.relpath(module.run_dir / record["files"][name], page.parent) in links, name
    assert '<svg class="curve"' in document
    assert 'href="../gallery.html"' in (page.parents[2] / "index.html").read_text()


def test_errors_and_the_command_line(run, tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"holds no rendered units .*; give a run directory"):
        build_site(tmp_path / "not_a_run")
    assert main(["site", str(tmp_path / "not_a_run")]) == 2
    assert "lit-actmax site: error:" in capsys.readouterr().err
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["site", str(copy), "--out", "atlas"]) == 0
    assert (copy / "atlas" / "index.html").resolve().as_uri() in capsys.readouterr().out
    assert (copy / "atlas" / layer_page("output")).is_file()


def test_an_image_cut_short_is_marked_incomplete_on_its_card_and_page(tmp_path, make_trainer):
    from lit_actmax import ActMaxModule, Channel, Compose, Pixel
    from lit_actmax.html.site import build_site

    module = ActMaxModule(backbone="lit_actmax.testing:tiny_backbone", objective=Channel("features.2"), units="0-5",
                          size=32, batch_size=3, steps_per_epoch=2, epochs=2, param=Pixel(), transforms=Compose([]),
                          out_dir=str(tmp_path / "runs"))
    make_trainer(max_steps=4 + 3).fit(module)  # the second group stops after 3 of its 4 steps
    page = build_site(module.run_dir)
    layer = (page.parent / "layers" / "features.2.html").read_text()
    assert layer.count("incomplete: 3 of 4 steps") == 3
    assert "incomplete: only 3 of 4 steps" in (page.parent / "units" / "features.2" / "unit_00004.html").read_text()
    assert "incomplete" not in (page.parent / "units" / "features.2" / "unit_00001.html").read_text()
