"""Layer layouts (issue 15): detection on torchvision models with random weights, statements, and the objectives that
read channels-last maps and tokens."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from lit_actmax.augment import lucid_transforms
from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.layouts import LayerLayout, detect_layout
from lit_actmax.backbones.probe import LayerProbe, list_layers
from lit_actmax.core.renderer import Renderer
from lit_actmax.core.schedule import UnitImage
from lit_actmax.errors import ProbeError
from lit_actmax.objectives import Channel, Neuron
from lit_actmax.params import Fourier

torchvision = pytest.importorskip("torchvision")

# A BCHW downsample conv and a channels-last (B, H, W, C) Linear of a ConvNeXt block.
CONVNEXT_FIRST, CONVNEXT_LAST = "features.2.1", "features.1.0.block.3"


@pytest.fixture(scope="module")
def convnext():
    torch.manual_seed(0)  # random weights: the same ones whatever ran before
    return load_backbone("torchvision:convnext_tiny", weights=None)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return load_backbone("torchvision:vit_b_16", weights=None)


def render_rises(backbone, objective, unit: int, steps: int = 6, **settings) -> tuple[float, float]:
    """(start, end) activation of one unit's image after a few Adam 0.05 steps of Lucid's method (Fourier, Lucid's
    transforms): a few large steps show the objective reads the layer; the default method takes smaller ones."""
    settings = {"param": Fourier(), "transforms": lucid_transforms(), **settings}
    renderer = Renderer(backbone, objective, steps=steps, seed=0, **settings)
    renderer.validate([unit])
    renderer.attach()
    try:
        renderer.start([UnitImage(unit, 0, True)])
        start = float(renderer.final_images()[1][0])
        end = float(renderer.optimize(steps, lambda p: torch.optim.Adam(p, lr=0.05))[1][0])
    finally:
        renderer.detach()
    return start, end


def test_convnext_channels_last_and_first_layers_are_detected(convnext):
    layouts = LayerProbe(convnext.model, [CONVNEXT_LAST, CONVNEXT_FIRST]).layouts(torch.rand(1, 3, 64, 64))
    assert layouts[CONVNEXT_LAST] == LayerLayout("BHWC", 384, (16, 16), 0, (16, 16, 384))
    assert layouts[CONVNEXT_FIRST] == LayerLayout("BCHW", 192, (8, 8), 0, (192, 8, 8))


@pytest.mark.slow
def test_swin_and_vit_layouts(vit):
    swin = torchvision.models.get_model("swin_t", weights=None).eval()
    infos = {i.name: i for i in list_layers(swin, torch.rand(1, 3, 64, 64))}
    assert infos["features.3.1"].layout.describe() == "BHWC 192ch 8x8"
    assert infos["permute"].layout.kind == "BCHW" and infos["head"].layout.describe() == "BC 1000ch"
    # ViT runs at 224 only: one size, the patch size it declares gives the grid and the class token.
    layouts = LayerProbe(vit.model, ["encoder.layers.encoder_layer_5", "conv_proj"]).layouts(torch.rand(1, 3, 224, 224))
    assert layouts["encoder.layers.encoder_layer_5"] == LayerLayout("BNC", 768, (14, 14), 1, (197, 768))
    assert layouts["conv_proj"].kind == "BCHW"


def test_tokens_from_two_sizes_and_from_a_square_fit():
    # 2 special tokens + a 16-pixel patch grid, read from how N scales between two input sizes
    layout = detect_layout("t", None, [(2 + 16, 32), (2 + 36, 32)], [(64, 64), (96, 96)])
    assert (layout.kind, layout.special, layout.grid, layout.channels) == ("BNC", 2, (4, 4), 32)
    # one size, no patch size: the fewest special tokens that leave a square (DINOv2-style: 1 class + 4 registers)
    assert detect_layout("t", None, [(261, 8)], [(224, 224)]).special == 5
    with pytest.raises(ProbeError, match=r"^Cannot tell the layout of layer 't' .*no square grid.*layout="):
        detect_layout("t", None, [(3, 8)], [(224, 224)])


def test_an_ambiguous_map_asks_for_the_layout_in_one_sentence():
    model = nn.Sequential(nn.Conv2d(3, 7, 3), nn.AdaptiveAvgPool2d(7), nn.Identity())
    with pytest.raises(ProbeError) as error:
        LayerProbe(model, "2").layouts(torch.rand(1, 3, 32, 32))
    message = str(error.value)
    assert message.startswith("Cannot tell the layout of layer '2' (output [7, 7, 7] per image")
    assert "layout='BCHW', 'BHWC'" in message and not re.search(r"\.\s+[A-Z]", message)
    # stated, it is used; the layers listing shows '?' instead of failing
    assert LayerProbe(model, "2").layouts(torch.rand(1, 3, 32, 32), {"2": "BHWC"})["2"].kind == "BHWC"
    assert {i.name: i.layout for i in list_layers(model, torch.rand(1, 3, 32, 32))}["2"] is None


def test_stated_layouts_are_parsed_and_checked():
    assert LayerLayout.stated("BNC:1:2x3", (7, 5)) == LayerLayout("BNC", 5, (2, 3), 1, (7, 5))
    assert LayerLayout.stated("bnc", (17, 5)).special == 1
    with pytest.raises(ProbeError, match="not one of"):
        LayerLayout.parse("NCHW")
    with pytest.raises(ProbeError, match="does not fit the stated layout"):
        LayerLayout.stated("BHWC", (7, 5))


def test_objectives_read_channels_last_and_tokens():
    from lit_actmax.objectives import RenderBatch

    hwc = torch.randn(2, 3, 4, 5)  # (B, H, W, C)
    batch = RenderBatch(acts={"l": hwc}, units=torch.tensor([4, 1]))
    channel, neuron = Channel("l", layout="BHWC"), Neuron("l", y=0, x=3, layout="BHWC")
    assert torch.allclose(channel(batch), torch.stack([hwc[0, ..., 4].mean(), hwc[1, ..., 1].mean()]))
    assert torch.allclose(neuron(batch), torch.stack([hwc[0, 0, 3, 4], hwc[1, 0, 3, 1]]))
    assert channel.num_units({"l": (3, 4, 5)}) == 5
    tokens = torch.randn(2, 1 + 6, 8)  # class token + a 2x3 grid
    batch = RenderBatch(acts={"l": tokens}, units=torch.tensor([2, 5]))
    bound = {"l": LayerLayout("BNC", 8, (2, 3), 1, (7, 8))}
    patch, cls, every = Channel("l"), Channel("l", tokens="class"), Channel("l", tokens="all")
    at = Neuron("l", y=1, x=0)
    for term in (patch, cls, every, at):
        term.use_layouts(bound)
    assert torch.allclose(patch(batch), torch.stack([tokens[0, 1:, 2].mean(), tokens[1, 1:, 5].mean()]))
    assert torch.allclose(cls(batch), tokens[[0, 1], 0, [2, 5]])
    assert torch.allclose(every(batch), torch.stack([tokens[0, :, 2].mean(), tokens[1, :, 5].mean()]))
    assert torch.allclose(at(batch), tokens[[0, 1], 1 + 1 * 3 + 0, [2, 5]])  # row 1, column 0 of the patch grid
    assert Neuron("l", unit=0).describe() == "Neuron(l, 0)" and cls.describe() == "Channel(l, tokens=class)"


def test_renderer_checks_units_against_the_true_channel_count(convnext):
    renderer = Renderer(convnext, Channel(CONVNEXT_LAST), size=64, steps=1)
    renderer.validate([0, 383])
    assert renderer.layer_layouts[CONVNEXT_LAST].channels == 384
    with pytest.raises(ValueError, match="Unit 384 is out of range .* valid units are 0-383"):
        renderer.validate([384])


@pytest.mark.slow
def test_convnext_large_channels_last_layer_accepts_unit_1500():
    torch.manual_seed(0)
    backbone = load_backbone("torchvision:convnext_large", weights=None)
    layer = "features.7.0.block.5"  # (B, H, W, 1536): the last stage's channels-last Linear
    renderer = Renderer(backbone, Channel(layer), size=64, steps=1)
    renderer.validate([1500])
    assert renderer.layer_layouts[layer].describe() == "BHWC 1536ch 2x2"


@pytest.mark.slow
@pytest.mark.parametrize("objective", [Channel(CONVNEXT_LAST), Neuron(CONVNEXT_LAST, y=3, x=5),
                                       Channel(CONVNEXT_FIRST)], ids=["channel-last", "neuron-last", "channel-first"])
def test_convnext_objectives_render_with_the_activation_rising(convnext, objective):
    start, end = render_rises(convnext, objective, unit=300 if objective.layer == CONVNEXT_LAST else 100, size=64)
    assert end > start + 0.1 * abs(start) + 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("objective", [Channel("encoder.layers.encoder_layer_3"),
                                       Neuron("encoder.layers.encoder_layer_3", y=2, x=11)], ids=["channel", "neuron"])
def test_vit_token_objectives_render_with_the_activation_rising(vit, objective):
    start, end = render_rises(vit, objective, unit=700, steps=8, size=96, input_size=224)
    assert end > start + 0.05 * abs(start) + 1e-3


def test_layers_command_shows_layout_channels_and_grid(capsys):
    from lit_actmax.cli.main import main

    assert main(["layers", "torchvision:convnext_tiny", "--weights", "none", "--size", "64"]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines[CONVNEXT_LAST][2:] == ["[16,", "16,", "384]", "BHWC", "384", "16x16"]
    assert lines[CONVNEXT_FIRST][-3:] == ["BCHW", "192", "8x8"] and lines["output"][-2:] == ["BC", "1000"]


def test_fingerprints_of_earlier_runs_stay_valid_and_statements_enter_them():
    from lit_actmax.run.checkpoint_state import describe_setting

    assert describe_setting(Channel("l")) == "Channel(layer='l', unit=None)"
    assert describe_setting(Channel("l", tokens="class", layout="BNC:1")) == \
        "Channel(layer='l', unit=None, tokens='class', layout='BNC:1')"
