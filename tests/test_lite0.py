"""Real-model checks on the embedded pretrained EfficientNet-Lite0 (a few seconds each on 2 CPU cores)."""

import pytest
import torch
import torch.nn.functional as F

from lit_actmax import ActMaxModule, Channel
from lit_actmax.backbones.probe import LayerProbe
from lit_actmax.core.evaluate import robust_class_scores, robust_objective_scores

pytestmark = pytest.mark.slow


def test_flamingo_is_top1_for_lite0_under_random_views(make_trainer):
    """The default method at the size and steps it is made for (224 px, 256 steps, as the quickstart)."""
    module = ActMaxModule(backbone="lite0", units=[130], size=224, batch_size=1, steps_per_epoch=64, epochs=4,
                          save_outputs=False)
    make_trainer().fit(module)
    finished = module.last_finished
    scores = robust_class_scores(module.renderer.backbone_info, finished.images, [130], n=16, seed=1)
    assert float(scores.top1[0]) >= 0.9, scores
    # and the backbone's BatchNorm statistics did not move
    bn = module.renderer.backbone._bn0
    assert not bn.training


def natural_images(size):
    data = pytest.importorskip("skimage.data")
    images = []
    for name in ("chelsea", "coffee", "astronaut", "rocket", "immunohistochemistry", "hubble_deep_field"):
        image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float()[None] / 255
        images.append(F.interpolate(image, size=(size, size), mode="bilinear", antialias=True))
    return torch.cat(images)


def test_channel_image_beats_noise_and_natural_photographs(make_trainer):
    layer, channels = "_blocks.8", [3, 17, 40]
    module = ActMaxModule(backbone="lite0", objective=Channel(layer), units=channels, size=128, batch_size=3,
                          steps_per_epoch=16, epochs=4, save_outputs=False)
    make_trainer().fit(module)
    backbone = module.renderer.backbone_info
    rendered = robust_objective_scores(backbone, Channel(layer), module.last_finished.images, channels, n=8)
    probe = LayerProbe(backbone.model, layer)
    with torch.no_grad():
        natural = probe(backbone.preprocess(natural_images(128)))[layer].mean((2, 3))[:, channels].max(0).values
        noise = probe(backbone.preprocess(torch.rand(4, 3, 128, 128, generator=torch.Generator().manual_seed(0))))
        noise = noise[layer].mean((2, 3))[:, channels].max(0).values
    best_other = torch.maximum(natural, noise).clamp(min=0.1)
    assert (rendered > 3 * best_other).all(), (rendered, natural, noise)
