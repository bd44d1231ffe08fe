"""transformers_models.py: a local folder's image model as images -> tensor; no downloads."""

import pytest
import torch

from lit_actmax import Channel, ClassLogit
from lit_actmax.backbones import load_backbone
from lit_actmax.errors import BackboneError


@pytest.fixture
def tiny_hf_vit(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    image_size=64, patch_size=16, num_labels=5,
                                    id2label={i: f"thing{i}" for i in range(5)}, label2id={f"thing{i}": i for i in range(5)})
    torch.manual_seed(0)
    folder = tmp_path / "tiny_vit"
    transformers.ViTForImageClassification(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 64, "width": 64}, image_mean=[0.5] * 3,
                                   image_std=[0.5] * 3).save_pretrained(folder)
    return folder


def test_transformers_local_folder(tiny_hf_vit, render_rises):
    backbone = load_backbone(f"transformers:{tiny_hf_vit}")
    assert backbone.class_names == [f"thing{i}" for i in range(5)]
    assert backbone.input_size == 64 and backbone.fixed_input_size == (64, 64)
    assert torch.allclose(backbone.preprocess.std.flatten(), torch.full((3,), 0.5))
    before, after = render_rises(backbone, ClassLogit(), size=40)
    assert after > before
    # the first block's MLP hidden activation (transformers 4: layer.0.intermediate, 5: layers.0.mlp...)
    names = [n for n, _ in backbone.model.named_modules() if n.endswith((".0.intermediate.dense", ".0.mlp.fc1"))]
    assert names, [n for n, _ in backbone.model.named_modules()][:40]
    before, after = render_rises(backbone, Channel(names[0]), size=40)
    assert after > before


def test_transformers_missing_folder_fails_with_one_sentence(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(BackboneError, match="neither a local model folder nor a model in the local") as error:
        load_backbone(f"transformers:{tmp_path / 'nowhere'}")
    assert "\n" not in str(error.value)
