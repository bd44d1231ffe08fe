"""scripts/channel_quality.py: channels are drawn by the seed, extreme crops come from distinct photographs, and the
quick run (lite0, 2 channels of one depth, 128 px, 8 steps) prints the table."""

import re

import pytest
import torch


def test_channels_are_drawn_by_the_seed_and_extreme_crops_come_from_distinct_photographs(script):
    channel_quality = script("channel_quality")
    drawn = channel_quality.draw_channels("lite0", "_blocks.8", 112, 30, 0)
    assert drawn == channel_quality.draw_channels("lite0", "_blocks.8", 112, 30, 0) == sorted(set(drawn)) and len(drawn) == 30
    assert drawn != channel_quality.draw_channels("lite0", "_blocks.12", 192, 30, 0)[:30]
    assert channel_quality.draw_channels("lite0", "_blocks.4", 5, 30, 0) == [0, 1, 2, 3, 4]
    scores = torch.tensor([9.0, 8.0, 1.0, 7.0, 0.0, 2.0, 6.0, 5.0])  # 4 photographs of 2 crops each
    top, bottom = channel_quality.extreme_crops(scores, torch.arange(8) // 2, 2)
    assert top.tolist() == [0, 3] and bottom.tolist() == [4, 7]  # photo 0's best crop, then photo 1's; then 2, 3
    photos = [torch.rand(3, 40, 60), torch.rand(3, 50, 50)]
    crops, sides = channel_quality.natural_crops(photos, 3, 16, seed=0)
    assert crops.shape == (6, 3, 16, 16) and torch.equal(crops, channel_quality.natural_crops(photos, 3, 16, seed=0)[0])
    assert not torch.equal(crops, channel_quality.natural_crops(photos, 3, 16, seed=1)[0])
    assert sides.shape == (6,) and (sides >= 10).all() and (sides[:3] <= 40).all() and (sides[3:] <= 50).all()
    assert len(set(sides.tolist())) > 1  # each crop's side in the photograph is drawn (0.25-1.0 of the short side)
    low, high = channel_quality.photo_range(torch.arange(101, dtype=torch.float32))
    assert (low, high) == pytest.approx((10.0, 90.0))
    assert channel_quality.within(50.0, (low, high)) and not channel_quality.within(95.0, (low, high))


@pytest.mark.slow
def test_the_quick_run_prints_the_table(script, capsys):
    channel_quality = script("channel_quality")
    assert channel_quality.main(["--quick", "--methods", "natural", "fourier"]) == 0
    out = capsys.readouterr().out
    assert "### lite0 at 128 px" in out and "`python scripts/channel_quality.py --quick --methods natural fourier`" in out
    rows = [line for line in out.splitlines() if line.startswith("| `_blocks.8` |")]
    assert [row.split(" | ")[1] for row in rows] == ["natural", "fourier"]
    table = [row.strip("|").split(" | ") for row in rows]
    for cells in table:
        assert float(cells[2]) > 0 and 0 <= float(cells[8]) <= 1  # act / best photo, hf share
        assert cells[10] in ("yes", "no")  # photo-like: hf share and TV within the crops' 10th-90th percentiles
        assert re.fullmatch(r"\d\.\d\d \(\d\.\d\d\)", cells[-1].strip())  # explanation score (examples)
    for ratio, of_best in ((2, 3), (4, 5), (6, 7)):  # activation, held-out (grey, mirrored frame): of the best method's
        values = [float(cells[ratio]) for cells in table]
        shares = [float(cells[of_best]) for cells in table]
        assert max(shares) == 1.0 and shares == pytest.approx([v / max(values) for v in values], abs=0.01)
    assert re.search(r"^\| - \| natural crops cut from >= 128 px \(\d+ of 30; p10-p90\) \| 1 \|", out, re.M)
    reference = next(line for line in out.splitlines() if line.startswith("| - | natural crops (reference; p10-p90) | 1 |"))
    assert reference.startswith("| - | natural crops (reference; p10-p90) | 1 | - | - | - | - | - | ")
    assert re.search(r"\| \d\.\d{3} \(\d\.\d{3}-\d\.\d{3}\) \| \d\.\d{3} \(\d\.\d{3}-\d\.\d{3}\) \| - \|", reference)
