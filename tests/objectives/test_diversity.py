"""Diversity: variants of one unit pushed apart; a unit rendered once, or the crops of one image, are not compared."""

import torch

from lit_actmax.objectives import Diversity, RenderBatch


def test_diversity_is_zero_alone_and_rewards_different_variants(batch):
    torch.manual_seed(0)
    acts = torch.rand(4, 6, 5, 5)
    same = batch({"l": acts[[0, 0, 1, 2]]}, [7, 7, 8, 9])
    score = Diversity("l")(same)
    assert score[2] == 0 and score[3] == 0
    assert torch.allclose(score[0], torch.tensor(-1.0), atol=1e-5)  # identical variants: similarity 1
    different = batch({"l": torch.stack([acts[0], -acts[0] + acts[0].max()])}, [7, 7])
    assert (Diversity("l")(different) > score[0]).all()


def test_diversity_compares_variants_not_the_crops_of_one_image():
    acts = torch.rand(6, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    units = torch.tensor([5, 5, 5, 5, 5, 5])
    one_variant = RenderBatch(acts={"l": acts}, units=units, variants=torch.zeros(6, dtype=torch.long))
    assert (Diversity("l")(one_variant) == 0).all(), "crops of a single image are not variants"
    two = RenderBatch(acts={"l": acts}, units=units, variants=torch.tensor([0, 0, 0, 1, 1, 1]))
    assert (Diversity("l")(two) < 0).all()
