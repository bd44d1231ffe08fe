"""The explanation score on cases with a known answer: synthetic units that fire on one hue (or one orientation),
pictures of that hue score near 1, random noise near 0.5; and the pieces (pair counting, the split, the embedding)."""

from __future__ import annotations

import math

import pytest
import torch

from lit_actmax.backbones import load_backbone
from lit_actmax.core.explanation_score import (
    DEFAULT_EMBEDDING_LAYERS,
    FeatureEmbedding,
    explanation_score,
    load_embedding,
    pair_accuracy,
    score_images,
    split_top,
)
from lit_actmax.errors import ActMaxError, ConfigError

TINY = "lit_actmax.testing:tiny_backbone"


def gratings(angles: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """(N,) orientations in [0, 1) (times 180 degrees) -> (N, 3, size, size) sine gratings of random phase,
    frequency and tint."""
    n = angles.numel()
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    angle = angles.view(n, 1, 1) * math.pi
    phase = torch.rand(n, 1, 1, generator=generator) * 2 * math.pi
    frequency = 6 + 4 * torch.rand(n, 1, 1, generator=generator)
    wave = 0.5 + 0.45 * torch.sin(frequency * math.pi * (xx * torch.cos(angle) + yy * torch.sin(angle)) + phase)
    return (wave.unsqueeze(1) * (0.6 + 0.4 * torch.rand(n, 3, 1, 1, generator=generator))).clamp(0, 1)


def unit_by_circle(values: torch.Tensor, preferred: float, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A synthetic unit whose activation is ``cos(2 pi (value - preferred))``: its top-k and bottom-k image indices."""
    order = torch.cos(2 * math.pi * (values - preferred)).argsort(descending=True)
    return order[:k], order[-k:]


def test_pairs_are_counted_and_ties_count_half():
    references = torch.tensor([[1.0, 0.0]])
    strong = torch.tensor([[1.0, 0.1], [0.0, 1.0]])
    weak = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    # strong 0 beats both weak ones; strong 1 ties weak 0 (0.5) and loses to weak 1
    assert pair_accuracy(references, strong, weak) == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert pair_accuracy(references, strong[:1], weak) == 1.0
    with pytest.raises(ConfigError, match="non-empty"):
        pair_accuracy(references, strong[:0], weak)


def test_the_top_list_alternates_between_references_and_queries():
    assert split_top(9) == ([0, 2, 4, 6, 8], [1, 3, 5, 7])
    assert split_top(2) == ([0], [1])
    with pytest.raises(ConfigError, match="at least 2 top dataset examples"):
        split_top(1)
    top, bottom = torch.eye(4)[:3], torch.eye(4)[3:]
    score = explanation_score(top[:1], top, bottom)
    assert score.pairs == 1 and score.picture == 0.5  # a picture orthogonal to both queries: a tie


def test_a_picture_of_the_units_colour_scores_near_one(colour_world):
    """12 units around the hue circle over 240 images; each unit's picture is two images of its hue."""
    generator = torch.Generator().manual_seed(0)
    hues = torch.rand(240, generator=generator)
    features = colour_world.colour_histogram(colour_world.hue_images(hues, 24, generator))
    for preferred in torch.arange(12) / 12:
        top, bottom = unit_by_circle(hues, float(preferred), 9)
        pictures = colour_world.hue_images(torch.full((2,), float(preferred)), 24, generator)
        score = explanation_score(colour_world.colour_histogram(pictures), features[top], features[bottom])
        assert score.pairs == 4 * 9
        assert score.picture >= 0.95 and score.examples >= 0.95, (float(preferred), score)


def test_random_noise_pictures_score_chance_and_the_units_colour_near_one(colour_world):
    """400 independent pairs: for each a random preferred hue, one image of a hue near it (strong), one of a hue
    near the opposite one (weak), a fresh noise picture and a fresh picture of the hue. By symmetry a noise picture
    answers right with probability 0.5: the share of 400 pairs has a standard deviation of at most 0.025, so
    0.5 +- 0.1 (4 standard deviations) holds but once in ~16,000 seeds; the seed is fixed."""
    generator = torch.Generator().manual_seed(1)
    trials, embed, draw = 400, colour_world.colour_histogram, colour_world.hue_images
    preferred = torch.rand(trials, generator=generator)
    near, opposite = (preferred + 0.1 * torch.randn(2, trials, generator=generator) + torch.tensor([[0.0], [0.5]])) % 1
    strong, weak = embed(draw(near, 16, generator)), embed(draw(opposite, 16, generator))
    noise = embed(torch.rand(trials, 3, 16, 16, generator=generator))
    right = embed(draw(preferred, 16, generator))
    chance = [pair_accuracy(noise[i:i + 1], strong[i:i + 1], weak[i:i + 1]) for i in range(trials)]
    answered = [pair_accuracy(right[i:i + 1], strong[i:i + 1], weak[i:i + 1]) for i in range(trials)]
    assert abs(sum(chance) / trials - 0.5) <= 0.1
    assert sum(answered) / trials >= 0.95


def test_a_feature_embedding_pools_each_layer_to_unit_length(colour_world):
    backbone = load_backbone(TINY)
    embedding = FeatureEmbedding(backbone, ["features.0", "features.4"], size=24)
    images = torch.rand(5, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    features = embedding(images)
    assert features.shape == (5, 8 + 16)
    assert torch.allclose(features.norm(dim=1), torch.ones(5), atol=1e-5)  # two unit halves, scaled by 1/sqrt(2)
    assert embedding.describe() == f"{TINY} features.0+features.4, mean over positions, 24 px"
    generator = torch.Generator().manual_seed(2)
    hues = torch.rand(30, generator=generator)
    top, bottom = (colour_world.hue_images(part, 24, generator) for part in (hues[:4], hues[4:8]))
    score = score_images(images[:1], top, bottom, embedding)
    assert 0.0 <= score.picture <= 1.0 and score.pairs == 2 * 4
    with pytest.raises(ActMaxError, match="nowhere"):
        FeatureEmbedding(backbone, ["nowhere"])
    with pytest.raises(ConfigError, match=r"\(N, 3, H, W\)"):
        embedding(images[0])


def test_another_embedding_backbone_needs_its_layers_named():
    with pytest.raises(ConfigError, match="Name the layers of the embedding backbone"):
        load_embedding(TINY)
    assert load_embedding(TINY, ["features.2"]).layers == ["features.2"]


@pytest.mark.slow
def test_the_default_embedding_knows_colour_and_orientation_units(colour_world):
    """The default embedding (lite0, a trained model, four depths): a picture of the unit's hue or orientation
    scores near 1 for every unit; random noise near 0.5 on average over the units."""
    embedding = load_embedding()
    assert embedding.layers == list(DEFAULT_EMBEDDING_LAYERS) and embedding.size == 224
    generator = torch.Generator().manual_seed(0)
    for make, units in ((colour_world.hue_images, 12), (gratings, 8)):
        values = torch.rand(120, generator=generator)
        features = embedding(make(values, 64, generator))
        pictures, noise = [], []
        for preferred in torch.arange(units) / units:
            top, bottom = unit_by_circle(values, float(preferred), 9)
            right = embedding(make(torch.full((2,), float(preferred)), 64, generator))
            pictures.append(explanation_score(right, features[top], features[bottom]).picture)
            random = embedding(torch.rand(2, 3, 64, 64, generator=generator))
            noise.append(explanation_score(random, features[top], features[bottom]).picture)
        assert min(pictures) >= 0.9, (units, pictures)
        assert abs(sum(noise) / units - 0.5) <= 0.15, (units, noise)
