"""input_size.py: sizes as (h, w), resizing, and the one size a fixed-input model accepts."""

import pytest
import torch

from lit_actmax.backbones import load_backbone, register_backbone
from lit_actmax.backbones.input_size import detect_fixed_input_size, resize_to
from lit_actmax.image.ops import as_hw

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.mark.parametrize("size, hw", [(None, None), (7, (7, 7)), ((5, 9), (5, 9)), ([6], (6, 6)),
                                      ((3, 4, 8), (4, 8)), (torch.Size([2, 3]), (2, 3))])
def test_as_hw(size, hw):
    assert as_hw(size) == hw


def test_resize_to_keeps_what_needs_no_resize():
    x = torch.rand(2, 3, 10, 12)
    assert resize_to(x, None) is x and resize_to(x, (10, 12)) is x
    assert resize_to(x, (5, 6)).shape == (2, 3, 5, 6)


def test_fixed_input_size_from_model_metadata():
    from torchvision.models import VisionTransformer
    from torchvision.models.swin_transformer import SwinTransformer

    vit = VisionTransformer(image_size=48, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32)
    assert detect_fixed_input_size(vit) == (48, 48)
    swin = SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=[4, 4])
    assert detect_fixed_input_size(swin) is None  # torchvision's Swin pads: any size
    swin(torch.rand(1, 3, 40, 40))
    assert load_backbone(TINY).fixed_input_size is None
    assert load_backbone(TINY).model_input(torch.rand(1, 3, 20, 20)).shape[-2:] == (20, 20)

    register_backbone("test_small_vit", lambda: vit)
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

    backbone = load_backbone(TINY)
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
