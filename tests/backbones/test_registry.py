import pytest
import torch
from torch import nn

from lit_actmax.backbones.registry import Backbone, BackboneError, Normalize, ScaleShift, load_backbone

TINY = "lit_actmax.testing:tiny_backbone"


def test_user_callable_spec_gives_frozen_eval_model():
    backbone = load_backbone("lit_actmax.testing:tiny_convnet")
    assert isinstance(backbone, Backbone) and isinstance(backbone.preprocess, Normalize)
    assert not backbone.model.training
    assert all(not p.requires_grad for p in backbone.model.parameters())


def test_backbone_factory_keeps_its_own_preprocessing():
    backbone = load_backbone(TINY)
    x = torch.full((1, 3, 4, 4), 0.75)
    assert torch.allclose(backbone.preprocess(x), torch.ones_like(x))  # (0.75 - 0.5) / 0.25
    assert backbone.class_names[3] == "class_3"


def test_batchnorm_statistics_never_change():
    def build():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))

    import lit_actmax.backbones.registry as models

    models.register_backbone("test_bn", build)
    backbone = load_backbone("test_bn")
    bn = backbone.model[1]
    before = bn.running_mean.clone()
    backbone.model(torch.randn(2, 3, 8, 8) * 5 + 3)
    assert torch.equal(bn.running_mean, before) and not bn.training


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


def test_torchvision_without_weights_and_unknown_names():
    backbone = load_backbone("torchvision:alexnet", weights=None)
    assert backbone.spec == "torchvision:alexnet" and isinstance(backbone.preprocess, Normalize)
    with pytest.raises(BackboneError, match="Did you mean 'alexnet'"):
        load_backbone("torchvision:alexnt", weights=None)
    with pytest.raises(BackboneError, match="no weights 'FOO'"):
        load_backbone("torchvision:alexnet", weights="FOO")


def test_torchvision_weights_unavailable_offline_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    import urllib.error

    import torchvision.models._api as api

    def offline(*args, **kwargs):  # what urllib raises on a machine without network
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(BackboneError) as error:
        load_backbone("torchvision:alexnet")
    message = str(error.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "weights=None" in message


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ("lite9", "Unknown backbone spec 'lite9'"),
        ("no_such_module_xyz:build", "Cannot import module 'no_such_module_xyz'"),
        ("lit_actmax.testing:nothing_here", "has no attribute 'nothing_here'"),
        ("missing.ckpt", "does not exist"),
    ],
)
def test_bad_specs_fail_with_one_clear_sentence(spec, pattern):
    with pytest.raises(BackboneError, match=pattern):
        load_backbone(spec)


def test_lightning_checkpoint_backbone(tmp_path):
    import pytorch_lightning as pl

    from lit_actmax.lightning.testing import TinyClassifier

    classifier = TinyClassifier()
    data = torch.utils.data.TensorDataset(torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,)))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(classifier, torch.utils.data.DataLoader(data, batch_size=4))
    path = tmp_path / "classifier.ckpt"
    trainer.save_checkpoint(path)
    with pytest.raises(BackboneError, match="checkpoint_class"):
        load_backbone(str(path))
    backbone = load_backbone(str(path), checkpoint_class="lit_actmax.lightning.testing.TinyClassifier")
    assert not backbone.model.training
    x = torch.rand(2, 3, 16, 16)
    classifier.eval()
    with torch.no_grad():
        assert torch.allclose(backbone.model(x), classifier(x), atol=1e-6)


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


def test_shipped_imagenet_classes_are_torchvision_s():
    from torchvision.models import ResNet50_Weights

    from lit_actmax.backbones.registry import imagenet_classes

    assert imagenet_classes() == list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    assert load_backbone("lite0").class_names[285] == "Egyptian cat"


def test_fixed_input_size_from_model_metadata():
    from torchvision.models import VisionTransformer
    from torchvision.models.swin_transformer import SwinTransformer

    from lit_actmax.backbones.library import detect_fixed_input_size

    vit = VisionTransformer(image_size=48, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32)
    assert detect_fixed_input_size(vit) == (48, 48)
    swin = SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=[4, 4])
    assert detect_fixed_input_size(swin) is None  # torchvision's Swin pads: any size
    swin(torch.rand(1, 3, 40, 40))
    assert load_backbone(TINY).fixed_input_size is None
    assert load_backbone(TINY).model_input(torch.rand(1, 3, 20, 20)).shape[-2:] == (20, 20)

    def build():
        return vit

    import lit_actmax.backbones.registry as models

    models.register_backbone("test_small_vit", build)
    backbone = load_backbone("test_small_vit")  # a user's plain nn.Module gets it too
    assert backbone.fixed_input_size == (48, 48) and backbone.input_hw == (48, 48)
    x = backbone.model_input(torch.full((2, 3, 64, 64), 0.5))  # the layers command's path: resized, normalized
    assert x.shape == (2, 3, 48, 48) and backbone.model(x).shape == (2, 1000)


@pytest.mark.slow
def test_torchvision_vit_specs_are_fixed_and_swin_is_not():
    assert load_backbone("torchvision:vit_b_16", weights=None).fixed_input_size == (224, 224)
    assert load_backbone("torchvision:swin_t", weights=None).fixed_input_size is None
    assert load_backbone("torchvision:resnet18", weights=None).fixed_input_size is None


def test_renderer_resizes_views_to_the_fixed_input_size():
    from lit_actmax import Renderer

    backbone = load_backbone("lit_actmax.testing:tiny_backbone")
    backbone.fixed_input_size = 40
    renderer = Renderer(backbone, size=32)
    assert renderer.to_model_input(torch.rand(2, 3, 37, 37)).shape[-2:] == (40, 40)
    renderer = Renderer(backbone, size=32, input_size=24)  # the manual knob wins
    assert renderer.to_model_input(torch.rand(2, 3, 37, 37)).shape[-2:] == (24, 24)


@pytest.mark.slow
def test_vit_renders_at_any_size_without_input_size(tmp_path, make_trainer):
    from lit_actmax import ActMaxModule

    module = ActMaxModule(backbone="torchvision:vit_b_16", weights=None, size=64, units=[1], batch_size=1,
                          steps_per_epoch=2, epochs=1, save_outputs=False, out_dir=str(tmp_path))
    assert module.renderer.input_size is None  # Lucid's default transforms pad: 64 px views of any size
    make_trainer().fit(module)
    assert module.last_finished.images.shape[-2:] == (64, 64)


@pytest.mark.slow
def test_layers_command_on_a_vit_at_any_size(capsys):
    from lit_actmax.cli.main import main

    assert main(["layers", "torchvision:vit_b_16", "--size", "64", "--weights", "none"]) == 0
    assert "encoder.layers.encoder_layer_0" in capsys.readouterr().out
