"""torchvision_models.py: torchvision's classification models through its weights API, offline-aware."""

import urllib.error

import pytest
import torch

from lit_actmax.backbones import Normalize, load_backbone
from lit_actmax.errors import BackboneError


def test_torchvision_without_weights_and_unknown_names():
    backbone = load_backbone("torchvision:alexnet", weights=None)
    assert backbone.spec == "torchvision:alexnet" and isinstance(backbone.preprocess, Normalize)
    assert backbone.min_size == 64 and backbone.extra == {"weights": None}
    with pytest.raises(BackboneError, match="Did you mean 'alexnet'"):
        load_backbone("torchvision:alexnt", weights=None)
    with pytest.raises(BackboneError, match="no weights 'FOO'"):
        load_backbone("torchvision:alexnet", weights="FOO")


def test_torchvision_weights_unavailable_offline_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    import torchvision.models._api as api

    def offline(*args, **kwargs):  # what urllib raises on a machine without network
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(BackboneError) as error:
        load_backbone("torchvision:alexnet")
    message = str(error.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "weights=None" in message


def test_cached_torchvision_weights_build_like_torchvision(monkeypatch):
    """With weights in the cache, the builder applies weight-specific settings (googlenet's transform_input)."""
    import torchvision.models as tvm
    import torchvision.models._api as api

    reference = tvm.googlenet(weights=None, init_weights=False, aux_logits=True, transform_input=True)
    monkeypatch.setattr(api, "load_state_dict_from_url", lambda *a, **k: reference.state_dict())
    backbone = load_backbone("torchvision:googlenet")
    assert backbone.model.transform_input is True and backbone.model.aux1 is None
    assert backbone.extra["weights"] == "IMAGENET1K_V1" and backbone.class_names[783] == "screw"
    x = torch.rand(1, 3, 64, 64)
    reference.aux_logits, reference.aux1, reference.aux2 = False, None, None
    reference.eval()
    with torch.no_grad():
        assert torch.allclose(backbone.model(x), reference(x), atol=1e-5)
