"""open_clip_models.py: the image tower with CLIP normalization; random weights, no downloads."""

import pytest
import torch

from lit_actmax.backbones import load_backbone
from lit_actmax.errors import BackboneError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)


def test_open_clip_image_tower_with_clip_normalization():
    pytest.importorskip("open_clip")
    backbone = load_backbone("open_clip:ViT-B-32", weights=None)
    assert type(backbone.model).__name__ == "VisionTransformer" and backbone.fixed_input_size == (224, 224)
    assert torch.allclose(backbone.preprocess.mean.flatten(), torch.tensor(CLIP_MEAN))
    x = backbone.model_input(torch.rand(1, 3, 64, 64))
    assert backbone.model(x).shape == (1, 512)


def test_open_clip_uncached_weights_and_unknown_tag(tmp_path, monkeypatch):
    pytest.importorskip("open_clip")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BackboneError, match="laion/CLIP-ViT-B-32-laion2B-s34B-b79K.*not in the local cache|not in the "
                                            "local cache.*laion/CLIP-ViT-B-32-laion2B-s34B-b79K"):
        load_backbone("open_clip:ViT-B-32:laion2b_s34b_b79k")
    with pytest.raises(BackboneError, match="no pretrained tag 'nope'"):
        load_backbone("open_clip:ViT-B-32:nope")
