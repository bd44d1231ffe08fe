"""evaluate: random views are seeded per call and move each image only; scores are means over those same views."""

import pytest
import torch

from lit_actmax.backbones.probe import LayerProbe
from lit_actmax.core.evaluate import RobustScores, random_views, robust_class_scores, robust_objective_scores
from lit_actmax.objectives import Channel
from lit_actmax.testing import tiny_backbone


@pytest.fixture(scope="module")
def backbone():
    return tiny_backbone()


def images(b: int = 2, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_views_have_the_promised_shape_and_stay_in_range():
    views = random_views(images(2), n=5, seed=3)
    assert views.shape == (2, 5, 3, 16, 16)
    assert views.min() >= 0 and views.max() <= 1
    assert random_views(images(2), n=3, out_size=8).shape == (2, 3, 3, 8, 8)


def test_views_depend_on_the_seed_only():
    first, again, other = (random_views(images(2), n=4, seed=s) for s in (1, 1, 2))
    assert torch.equal(first, again) and not torch.allclose(first, other)
    assert not torch.allclose(first[:, 0], first[:, 1])  # the views of one image differ from each other


def test_views_without_shift_zoom_or_rotation_are_the_image():
    batch = images(2)
    views = random_views(batch, n=3, max_shift=0.0, scales=(1.0, 1.0), degrees=0.0)
    torch.testing.assert_close(views, batch.unsqueeze(1).expand(-1, 3, -1, -1, -1), atol=1e-5, rtol=0)


def test_each_image_gets_its_own_views_and_uncovered_areas_are_grey():
    batch = torch.stack([torch.full((3, 16, 16), 0.5), images(1)[0]])
    views = random_views(batch, n=4, seed=0)
    assert (views[0] == 0.5).all()  # a grey image stays grey under any view: nothing leaks from image 1
    assert not torch.allclose(views[1], torch.full_like(views[1], 0.5))
    shifted = random_views(torch.zeros(1, 3, 16, 16), n=4, seed=0, max_shift=0.4, scales=(0.5, 0.5))
    assert (shifted == 0.5).any() and (shifted == 0).any()  # zoomed out: the border comes from outside, grey


def test_a_mirrored_frame_shows_the_image_where_a_grey_one_shows_grey():
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0] = 1.0
    zoomed_out = {"max_shift": 0.4, "scales": (0.5, 0.5), "seed": 0, "n": 4}
    assert (random_views(red, **zoomed_out) == 0.5).any()  # the grey page shows around the image
    mirrored = random_views(red, border="symmetric", **zoomed_out)
    torch.testing.assert_close(mirrored, red.unsqueeze(1).expand_as(mirrored), atol=1e-6, rtol=0)  # only red is seen
    with pytest.raises(ValueError, match="border"):
        random_views(red, border="wrap")


@pytest.mark.parametrize("border", ["constant", "symmetric"])
def test_class_scores_are_means_over_the_same_views(backbone, border):
    batch, classes, n = images(3), [0, 3, 9], 6
    scores = robust_class_scores(backbone, batch, classes, n=n, seed=4, border=border)
    assert isinstance(scores, RobustScores)
    with torch.no_grad():
        views = random_views(batch, n=n, seed=4, border=border).flatten(0, 1)
        logits = backbone.model(backbone.preprocess(views)).view(3, n, -1)
    target = torch.tensor(classes).view(3, 1).expand(-1, n)
    torch.testing.assert_close(scores.mean_score, logits.gather(2, target.unsqueeze(-1)).squeeze(-1).mean(1))
    torch.testing.assert_close(scores.top1, (logits.argmax(-1) == target).float().mean(1))
    torch.testing.assert_close(scores.top5, (logits.topk(5, -1).indices == target.unsqueeze(-1)).any(-1).float().mean(1))
    assert (scores.top1 <= scores.top5).all()


def test_class_scores_of_a_view_invariant_image_are_exact(backbone):
    grey = torch.full((1, 3, 16, 16), 0.5)
    with torch.no_grad():
        logits = backbone.model(backbone.preprocess(grey))[0]
    ranked = logits.argsort(descending=True).tolist()
    best, fifth, last = ranked[0], ranked[4], ranked[-1]
    scores = robust_class_scores(backbone, grey.expand(3, -1, -1, -1), [best, fifth, last], n=4, seed=0)
    assert scores.top1.tolist() == [1.0, 0.0, 0.0] and scores.top5.tolist() == [1.0, 1.0, 0.0]
    torch.testing.assert_close(scores.mean_score, logits[[best, fifth, last]])


def test_class_scores_do_not_depend_on_the_chunk_or_need_gradients(backbone):
    batch = images(2).requires_grad_(True)
    whole = robust_class_scores(backbone, batch, torch.tensor([1, 2]), n=5, seed=2)
    pieces = robust_class_scores(backbone, batch, [1, 2], n=5, seed=2, chunk=3)
    for name in ("mean_score", "top1", "top5"):
        torch.testing.assert_close(getattr(whole, name), getattr(pieces, name))
    assert not whole.mean_score.requires_grad


def test_class_scores_resize_views_to_out_size(backbone):
    batch = images(1, size=40)
    scores = robust_class_scores(backbone, batch, [5], n=2, seed=0, out_size=24)
    with torch.no_grad():
        views = random_views(batch, n=2, seed=0, out_size=24)[0]
        expected = backbone.model(backbone.preprocess(views))[:, 5].mean()
    torch.testing.assert_close(scores.mean_score, expected.view(1))


@pytest.mark.parametrize("border", ["constant", "symmetric"])
def test_objective_scores_are_the_channel_activation_averaged_over_the_views(backbone, border):
    batch, units, n = images(2), [1, 6], 3
    got = robust_objective_scores(backbone, Channel("features.2"), batch, units, n=n, seed=5, border=border)
    views = random_views(batch, n=n, seed=5, border=border)
    probe = LayerProbe(backbone.model, ["features.2"])
    with torch.no_grad():
        acts = torch.stack([probe(backbone.preprocess(views[:, i]))["features.2"] for i in range(n)], 1)
    expected = torch.stack([acts[b, :, u].mean((-2, -1)).mean() for b, u in enumerate(units)])
    assert got.shape == (2,)
    torch.testing.assert_close(got, expected)


def test_objective_scores_of_a_grey_image_equal_its_activation(backbone):
    grey = torch.full((1, 3, 16, 16), 0.5)
    probe = LayerProbe(backbone.model, ["features.2"])
    with torch.no_grad():
        direct = probe(backbone.preprocess(grey))["features.2"][0, 4].mean()
    got = robust_objective_scores(backbone, Channel("features.2"), grey, [4], n=4, seed=1)
    torch.testing.assert_close(got, direct.view(1))
    with torch.no_grad():
        assert backbone.model(grey).shape == (1, 10)  # no probe hook is left behind to stop the next forward
