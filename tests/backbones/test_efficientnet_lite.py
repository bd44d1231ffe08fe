"""efficientnet_lite.py: the embedded pretrained default, offline."""

import importlib

import pytest
import torch

from lit_actmax.backbones import ScaleShift, load_backbone
from lit_actmax.errors import BackboneError


@pytest.mark.slow
def test_lite0_is_pretrained_and_offline(lite0):
    skimage = pytest.importorskip("skimage.data")
    import torch.nn.functional as F

    assert isinstance(lite0.preprocess, ScaleShift) and lite0.input_size == 224
    for name, label in (("chelsea", 285), ("coffee", 967)):
        image = torch.from_numpy(getattr(skimage, name)()).permute(2, 0, 1).float()[None] / 255
        image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
        with torch.no_grad():
            logits = lite0.model(lite0.preprocess(image))
        assert int(logits.argmax()) == label
    assert lite0.class_names[130] == "flamingo"


def test_a_variant_without_its_weights_package_says_what_to_install(monkeypatch):
    real = importlib.import_module

    def without_lite3(name, package=None):
        if name == "efficientnet_lite3_pytorch_model":
            raise ImportError(f"No module named {name!r}")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_lite3)
    with pytest.raises(BackboneError, match=r"'lite3' needs the packages efficientnet-lite-pytorch and "
                                            r"efficientnet-lite3-pytorch-model: pip install them") as error:
        load_backbone("lite3")
    assert "\n" not in str(error.value)
