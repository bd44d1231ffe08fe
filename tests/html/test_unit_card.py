"""One unit's HTML, as the gallery's cards and the site's unit pages draw it: only files that exist, sizes from the
record, a column of numbers per variant, dataset examples and download links."""

from __future__ import annotations

import re

from lit_actmax.html.card_sorting import card_data, sort_bar
from lit_actmax.html.markup import RunFiles
from lit_actmax.html.records import Unit
from lit_actmax.html.unit_card import CARD_SIZES, PAGE_SIZES, unit_view


def make_unit(run_dir, variants: int = 2) -> Unit:
    """A unit of ``variants`` records; variant 0 lists a transparency map, a GIF, a .npy file and one never written."""
    folder = run_dir / "images" / "l"
    folder.mkdir(parents=True)
    records = []
    for v in range(variants):
        for suffix in (".png", ".json"):
            (folder / f"unit_00003_v{v}{suffix}").write_bytes(b"x")
        records.append({"layer": "l", "unit": 3, "variant": v, "image": f"images/l/unit_00003_v{v}.png",
                        "size": [32, 64], "activation": 1.0 + v, "steps": 8, "seed": 11, "best_step": 5 + v,
                        "activation_curve": {"values": [0.0, 1.0 + v]}})
    for name in ("unit_00003_v0_alpha.png", "unit_00003_v0.gif", "unit_00003_v0.npy"):
        (folder / name).write_bytes(b"x")
    records[0]["files"] = {"alpha": "images/l/unit_00003_v0_alpha.png", "gif": "images/l/unit_00003_v0.gif",
                           "transparency": "images/l/unit_00003_v0.npy", "stale": "images/l/gone.png"}
    return Unit("l", 3, records)


def test_a_unit_shows_the_files_that_exist_at_the_records_aspect(tmp_path):
    html = unit_view(make_unit(tmp_path), None, RunFiles(tmp_path), tmp_path / "site" / "units" / "l", PAGE_SIZES)
    images = re.findall(r'<img class="([^"]+)" src="([^"]+)" width="(\d+)" height="(\d+)"', html)
    assert [(css, src.rsplit("/", 1)[1], w, h) for css, src, w, h in images] == [
        ("unit", "unit_00003_v0.png", "256", "128"), ("unit", "unit_00003_v0.gif", "256", "128"),
        ("unit alpha", "unit_00003_v0_alpha.png", "256", "128"), ("unit", "unit_00003_v1.png", "256", "128")]
    assert all(src.startswith("../../../images/l/") for _, src, _, _ in images)
    assert "gone.png" not in html and html.count('<section class="variant">') == 2 and html.count("<svg") == 2
    assert "<figcaption>variant 1</figcaption>" in html
    assert '<a href="../../../images/l/unit_00003_v0.npy" download>variant 0 transparency</a>' in html
    assert '<a href="../../../images/l/unit_00003_v1.json">variant 1 record</a>' in html
    assert "<details class=\"numbers\" open>" in html and "loading=" not in html


def test_numbers_have_a_column_per_variant_and_cards_are_small_and_lazy(tmp_path):
    html = unit_view(make_unit(tmp_path), None, RunFiles(tmp_path), tmp_path, CARD_SIZES, lazy=True)
    assert "<tr><th></th><th>variant 0</th><th>variant 1</th></tr>" in html
    assert "<tr><td>best_step</td><td>5</td><td>6</td></tr>" in html and "<tr><td>seed</td><td>11</td><td>11</td></tr>" in html
    assert 'width="100" height="50"' in html and html.count('loading="lazy"') == 4
    assert '<details class="numbers"><summary>' in html and 'src="images/l/unit_00003_v0.png"' in html


def test_dataset_examples_that_exist_are_shown(tmp_path):
    (tmp_path / "examples" / "l" / "thumbs").mkdir(parents=True)
    (tmp_path / "examples" / "l" / "thumbs" / "000001.jpg").write_bytes(b"x")
    entries = {"top": [{"image": "examples/l/thumbs/000001.jpg", "source": "a <b>.png", "activation": 2.5},
                       {"image": "examples/l/thumbs/000002.jpg", "source": "gone.png", "activation": 1.0}]}
    html = unit_view(make_unit(tmp_path, 1), entries, RunFiles(tmp_path), tmp_path, CARD_SIZES)
    assert html.count('<div class="examples">') == 1 and "<h3>most activating dataset images</h3>" in html
    assert 'src="examples/l/thumbs/000001.jpg" width="52" height="52" loading="lazy" alt="a &lt;b&gt;.png"' in html
    assert "gone.png" not in html and "least activating" not in html
    assert "<th>variant" not in html and "<figcaption>image</figcaption>" in html  # one variant: no columns, no tags


def test_cards_carry_what_the_script_sorts_and_filters_by(tmp_path):
    unit = make_unit(tmp_path)
    unit.records[0]["label"] = 'A "Cat"'
    assert card_data(unit) == 'data-unit="3" data-activation="2" data-label="a &quot;cat&quot;"'
    assert card_data(Unit("l", 4, [{"unit": 4}])) == 'data-unit="4" data-activation="" data-label=""'
    assert '<span id="shown">7</span> of 7 shown</span><a href="#x">x</a></div>' in sort_bar(7, '<a href="#x">x</a>')
