"""timm / open_clip / transformers backbones: random weights, no downloads."""

import builtins

import pytest
import torch

from lit_actmax import Channel, ClassLogit, Renderer
from lit_actmax.augment import Compose
from lit_actmax.backbones.registry import BackboneError, Normalize, load_backbone

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)


def render_rises(backbone, objective, size=48, steps=3):
    """A few plain Adam steps at a non-native size: runs, and the objective rises."""
    renderer = Renderer(backbone, objective, transforms=Compose([]), size=size, steps=steps)
    renderer.validate([0])
    renderer.attach()
    renderer.start([(0, 0, True)])
    optimizer = torch.optim.Adam(renderer.param.parameters(), lr=0.05)
    before = renderer.final_images()[1]
    for step in range(steps):
        optimizer.zero_grad()
        renderer.loss(step).loss.backward()
        optimizer.step()
    images, after = renderer.final_images()
    renderer.detach()
    assert images.shape == (1, 3, size, size)
    return float(before[0]), float(after[0])


@pytest.mark.parametrize(
    "name, mean, fixed",
    [("resnet18", (0.485, 0.456, 0.406), None), ("convnext_atto", (0.485, 0.456, 0.406), None),
     ("vit_tiny_patch16_224", (0.5, 0.5, 0.5), (224, 224))],
)
def test_timm_builds_with_its_data_config_and_renders(name, mean, fixed):
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


@pytest.mark.parametrize("prefix, extra", [("timm", "timm"), ("open_clip", "clip"), ("transformers", "transformers")])
def test_missing_extra_fails_with_one_sentence(monkeypatch, prefix, extra):
    real_import = builtins.__import__

    def fail(name, *args, **kwargs):
        if name == prefix or name.startswith(prefix + "."):
            raise ImportError(f"No module named {prefix!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fail)
    monkeypatch.setattr("importlib.import_module", lambda name, package=None: fail(name))
    with pytest.raises(BackboneError, match=rf"pip install 'lit_actmax\[{extra}\]'\.$") as error:
        load_backbone(f"{prefix}:anything", weights=None)
    assert "\n" not in str(error.value)


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


def test_transformers_local_folder(tiny_hf_vit):
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
