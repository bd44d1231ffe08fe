"""Renderer: the plain-torch core; a ten-line loop over it makes the Trainer's images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit, ConfigError, Renderer, TotalVariation, UnitSchedule
from lit_actmax.callbacks import KeepImages
from lit_actmax.core.optim import default_optimizer
from lit_actmax.core.renderer import MIN_BACKBONE_ROWS, probe_padded
from lit_actmax.core.schedule import UnitImage
from lit_actmax.testing import tiny_backbone

LONE_GROUP_PNGS = Path(__file__).resolve().parents[1] / "dist_helpers" / "lone_group_pngs.py"

SETTINGS = dict(size=32, seed=3)


def plain_loop(units: tuple[int, ...], objective, regularizers, batch_size: int, epochs: int, steps_per_epoch: int):
    """The README's loop: no Lightning anywhere."""
    schedule = UnitSchedule(units, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch)
    renderer = Renderer(tiny_backbone(), objective, regularizers, steps=schedule.steps_per_unit, **SETTINGS)
    renderer.validate(schedule.units)
    renderer.attach()
    images = {}
    try:
        for group in schedule.groups:
            renderer.start(group)
            optimizer = default_optimizer(renderer.param.parameters())  # the module's default, Adam 0.02
            for step in range(schedule.steps_per_unit):
                optimizer.zero_grad()
                renderer.loss(step).loss.backward()
                optimizer.step()
            final, _ = renderer.final_images()
            images.update(zip(renderer.unit_ids, final))
    finally:
        renderer.detach()
    return images


def test_plain_loop_equals_the_trainer(make_trainer):
    units, layer = (0, 1, 2, 3, 4), "features.2"
    objective = Channel(layer)
    module = ActMaxModule(backbone="lit_actmax.testing:tiny_backbone", objective=objective, units=list(units),
                          regularizers=[TotalVariation(0.01)], batch_size=2, epochs=2, steps_per_epoch=3,
                          save_outputs=False, **SETTINGS)
    collected = KeepImages()
    make_trainer(callbacks=[collected]).fit(module)
    plain = plain_loop(units, Channel(layer), [TotalVariation(0.01)], batch_size=2, epochs=2, steps_per_epoch=3)
    assert sorted(plain) == sorted(collected.unit_images) == list(units)
    for unit in units:
        assert torch.equal(plain[unit], collected.unit_images[unit]), unit


def test_loss_rises_the_activation_and_skips_unsaved_images():
    renderer = Renderer(tiny_backbone(), Channel("features.2"), steps=20, **SETTINGS)
    renderer.attach()
    renderer.start([UnitImage(1, 0, True), UnitImage(2, 0, False)])
    start = renderer.final_images()[1]
    optimizer = torch.optim.Adam(renderer.param.parameters(), lr=0.2)
    for step in range(20):
        optimizer.zero_grad()
        out = renderer.loss(step)
        out.loss.backward()
        assert out.activations.shape == (2,)
        optimizer.step()
    end = renderer.final_images()[1]
    assert end[0] > 2 * start[0] + 0.1, (start, end)  # the saved image's activation rose
    unsaved = renderer.param.spectrum.grad[1]
    assert unsaved is not None and float(unsaved.abs().max()) == 0.0  # the padding image gets no gradient
    assert end[1] == start[1]  # ... so it did not change
    renderer.detach()


def test_an_image_does_not_depend_on_its_group():
    def render(items):
        renderer = Renderer(tiny_backbone(), ClassLogit(), steps=4, **SETTINGS)
        renderer.attach()
        renderer.start(items)
        optimizer = torch.optim.Adam(renderer.param.parameters(), lr=0.05)
        for step in range(4):
            optimizer.zero_grad()
            renderer.loss(step).loss.backward()
            optimizer.step()
        return dict(zip(renderer.unit_ids, renderer.final_images()[0]))

    alone = render([UnitImage(5, 0, True)])
    together = render([UnitImage(2, 0, True), UnitImage(5, 0, True), UnitImage(7, 0, True)])
    torch.testing.assert_close(alone[5], together[5], atol=1e-5, rtol=0)


def test_a_forward_of_one_row_is_padded_and_the_padding_dropped():
    seen = []

    def probe(x: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(x.shape[0])
        return {"output": x.flatten(1).sum(1, keepdim=True) * torch.arange(1, x.shape[0] + 1).view(-1, 1)}

    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    acts = probe_padded(probe, x)
    acts["output"].sum().backward()
    assert seen == [MIN_BACKBONE_ROWS] and acts["output"].shape == (1, 1)
    torch.testing.assert_close(acts["output"][0, 0], x.detach().sum())
    assert torch.equal(x.grad, torch.ones_like(x))  # the copy's activation and gradient are dropped
    assert probe_padded(probe, torch.rand(3, 3, 8, 8))["output"].shape == (3, 1) and seen[-1] == 3


#: Variables that make torch, oneDNN and MKL use AVX2 kernels on a CPU with AVX-512 (no-ops on an AVX2 CPU).
FORCED_AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@pytest.mark.slow
@pytest.mark.parametrize("instructions", ["native", "avx2"])
def test_lite0_a_lone_last_group_gives_the_image_of_a_full_batch(instructions):
    """Units 0-2 in groups of 2 leave unit 2 alone in the last group; in a group of 3 it has company. Without the
    padding of one-row forwards torch runs lite0's small 1x1 convolutions of a lone image through another kernel, and
    unit 2's PNG differed by 19/255 (96 px, 8 steps, 2 threads, AVX-512); with AVX2 kernels MKL's matmul of the
    colour decorrelation (before it was element-wise) made a lone image differ at 160 and 224 px (not at 96 or 128).
    A fresh process per instruction set: torch reads its choice once, at import."""
    env = {**os.environ, **(FORCED_AVX2 if instructions == "avx2" else {})}
    done = subprocess.run([sys.executable, str(LONE_GROUP_PNGS), "--size", "160", "--steps", "8"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if instructions == "avx2":
        assert result["capability"] == "AVX2"
    assert result["alone"] == result["together"]


def test_validate_checks_units_against_the_layer():
    renderer = Renderer(tiny_backbone(), Channel("features.2"), **SETTINGS)
    shapes = renderer.validate([0, 3])
    channels = shapes["features.2"][0]
    with pytest.raises(ConfigError, match=f"valid units are 0-{channels - 1}"):
        renderer.validate([channels])


def test_detach_leaves_the_model_as_it_was():
    backbone = tiny_backbone()
    x = torch.rand(1, 3, 32, 32)
    expected = backbone.model(backbone.preprocess(x))
    renderer = Renderer(backbone, Channel("features.2"), **SETTINGS)
    renderer.attach()
    renderer.detach()
    torch.testing.assert_close(backbone.model(backbone.preprocess(x)), expected)
    assert not any(m._forward_hooks for m in backbone.model.modules())
