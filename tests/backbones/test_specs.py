"""specs.py: the one door; each kind of spec reaches its one loader, an unknown spec gets one sentence."""

import pytest
import torch
from torch import nn

import lit_actmax.backbones.specs as specs
from lit_actmax.backbones import Backbone, Normalize, load_backbone, register_backbone
from lit_actmax.errors import BackboneError

TINY = "lit_actmax.testing:tiny_backbone"


def fake_loader(prefix, calls):
    def load(name, weights):
        calls.append((prefix, name, weights))
        return Backbone(model=nn.Identity(), preprocess=Normalize(), spec=f"{prefix}:{name}")

    return load


def test_the_prefix_table_names_every_library_and_nothing_else():
    assert set(specs.PREFIX_LOADERS) == {"torchvision", "timm", "open_clip", "transformers"}


@pytest.mark.parametrize("prefix", sorted(specs.PREFIX_LOADERS))
def test_each_prefix_reaches_its_loader_with_the_rest_and_the_weights(monkeypatch, prefix):
    calls = []
    for other in specs.PREFIX_LOADERS:
        monkeypatch.setitem(specs.PREFIX_LOADERS, other, fake_loader(other, calls))
    backbone = load_backbone(f"{prefix}:some/model:tag.ckpt", weights="W")  # the prefix wins over the .ckpt suffix
    assert calls == [(prefix, "some/model:tag.ckpt", "W")] and backbone.spec == f"{prefix}:some/model:tag.ckpt"


def test_a_new_prefix_is_one_table_entry(monkeypatch):
    calls = []
    monkeypatch.setitem(specs.PREFIX_LOADERS, "mylib", fake_loader("mylib", calls))
    load_backbone("mylib:net", weights=None)
    assert calls == [("mylib", "net", None)]


def test_the_other_kinds_reach_their_loaders(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(specs, "load_lightning_checkpoint", lambda path, cls: seen.append(("ckpt", path, cls)) or nn.Identity())
    monkeypatch.setattr(specs, "load_user_callable", lambda spec: seen.append(("callable", spec)) or nn.Identity())
    load_backbone("dir/run:3.ckpt", checkpoint_class="pkg.Cls")  # the .ckpt suffix wins over "<module>:<callable>"
    load_backbone("pkg.module:build")
    assert seen == [("ckpt", "dir/run:3.ckpt", "pkg.Cls"), ("callable", "pkg.module:build")]
    register_backbone("test:registered", lambda: seen.append(("name",)) or nn.Identity())
    load_backbone("test:registered")  # a registered name wins over every other kind
    assert seen[-1] == ("name",)


@pytest.mark.parametrize("spec", ["lite9", "resnet50", "no_colon_here"])
def test_an_unknown_spec_gets_the_one_sentence(spec):
    with pytest.raises(BackboneError, match=rf"^Unknown backbone spec {spec!r}\.") as error:
        load_backbone(spec)
    assert str(error.value).endswith("Use one of " + str(specs.registered_backbones()) +
                                     ", 'torchvision:<name>', '<module>:<callable>' or a Lightning '<path>.ckpt'.")
    with pytest.raises(BackboneError, match="Did you mean 'lite0'"):
        load_backbone("lite00")


@pytest.mark.parametrize("spec", ["", None, 3])
def test_a_spec_must_be_a_non_empty_string(spec):
    with pytest.raises(BackboneError, match="must be a non-empty string"):
        load_backbone(spec)


def test_backbone_factory_keeps_its_own_preprocessing():
    backbone = load_backbone(TINY)
    x = torch.full((1, 3, 4, 4), 0.75)
    assert torch.allclose(backbone.preprocess(x), torch.ones_like(x))  # (0.75 - 0.5) / 0.25
    assert backbone.class_names[3] == "class_3" and backbone.user_state is None


def test_mean_std_and_input_size_overrides():
    backbone = load_backbone(TINY, mean=[0.0, 0.0, 0.0], input_size=64)
    assert backbone.preprocess.std.flatten().tolist() == pytest.approx([0.229, 0.224, 0.225])
    assert backbone.input_size == 64
    with pytest.raises(BackboneError, match=r"^mean must be three numbers, one per RGB channel, got \[0.5, 0.5\]\.$"):
        load_backbone(TINY, mean=[0.5, 0.5])
    with pytest.raises(BackboneError, match="and all positive"):
        load_backbone(TINY, std=[0.2, 0.0, 0.2])


def test_a_users_module_is_frozen_and_its_state_kept():
    backbone = load_backbone("lit_actmax.testing:tiny_convnet")
    assert isinstance(backbone, Backbone) and isinstance(backbone.preprocess, Normalize)
    assert not backbone.model.training and all(not p.requires_grad for p in backbone.model.parameters())
    assert backbone.user_state is not None and all(backbone.user_state.requires_grad)
