"""timm_models.py: timm models with their data config; random weights, no downloads."""

import pytest
import torch

from lit_actmax import ClassLogit
from lit_actmax.backbones import Normalize, load_backbone
from lit_actmax.errors import BackboneError


@pytest.mark.parametrize(
    "name, mean, fixed",
    [("resnet18", (0.485, 0.456, 0.406), None), ("convnext_atto", (0.485, 0.456, 0.406), None),
     ("vit_tiny_patch16_224", (0.5, 0.5, 0.5), (224, 224))],
)
def test_timm_builds_with_its_data_config_and_renders(render_rises, name, mean, fixed):
    pytest.importorskip("timm")
    backbone = load_backbone(f"timm:{name}", weights=None)
    assert backbone.spec == f"timm:{name}" and isinstance(backbone.preprocess, Normalize)
    assert torch.allclose(backbone.preprocess.mean.flatten(), torch.tensor(mean))
    assert backbone.input_size == 224 and backbone.fixed_input_size == fixed
    assert len(backbone.class_names) == 1000
    before, after = render_rises(backbone, ClassLogit())
    assert after > before


def test_timm_unknown_name_and_uncached_weights_fail_with_one_sentence(tmp_path, monkeypatch):
    pytest.importorskip("timm")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))
    with pytest.raises(BackboneError, match="Did you mean 'resnet18'") as error:
        load_backbone("timm:resnet18x", weights=None)
    with pytest.raises(BackboneError) as error:
        load_backbone("timm:resnet18")
    message = str(error.value)
    assert "timm/resnet18.a1_in1k" in message and str(tmp_path / "hub") in message and "weights=None" in message
    assert message.count(". ") == 0 and "\n" not in message
