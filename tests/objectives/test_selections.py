"""Spatial and UnitSet: midnite's selections (a position over all channels; several units as one mean)."""

import pytest
import torch

from lit_actmax import ActMaxModule, ConfigError
from lit_actmax.augment import Compose
from lit_actmax.objectives import Channel, RenderBatch, Spatial, UnitSet
from lit_actmax.params import Pixel

TINY = "lit_actmax.testing:tiny_backbone"


def batch(acts, units):
    return RenderBatch(acts={"l": acts}, units=torch.tensor(units))


def test_spatial_is_the_channel_mean_at_a_position():
    acts = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).view(2, 3, 2, 4)
    # unit u = position u in row-major order: unit 5 = (1, 1)
    score = Spatial("l")(batch(acts, [5, 0]))
    torch.testing.assert_close(score, torch.stack([acts[0, :, 1, 1].mean(), acts[1, :, 0, 0].mean()]))
    fixed = Spatial("l", y=0, x=3)(batch(acts, [5, 0]))
    torch.testing.assert_close(fixed, acts[:, :, 0, 3].mean(1))
    assert Spatial("l").num_units({"l": (3, 2, 4)}) == 8 and Spatial("l", 0, 3).num_units({"l": (3, 2, 4)}) is None
    tokens = torch.randn(2, 5, 3)  # (B, N, C)
    torch.testing.assert_close(Spatial("l", x=2)(batch(tokens, [0, 1])), tokens[:, 2].mean(-1))
    with pytest.raises(ValueError, match="outside the 2x4 map"):
        Spatial("l", y=2, x=0).num_units({"l": (3, 2, 4)})
    with pytest.raises(ValueError, match="no spatial positions"):
        Spatial("l").num_units({"l": (10,)})


def test_unit_set_is_the_mean_of_its_members():
    acts = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    channels = UnitSet("l", [1, 3])(batch(acts, [7, 2]))  # one set: unit ids only seed
    expected = (Channel("l", 1)(batch(acts, [0, 0])) + Channel("l", 3)(batch(acts, [0, 0]))) / 2
    torch.testing.assert_close(channels, expected)
    neurons = UnitSet("l", [[0, 1, 2], [2, 0, 0]], kind="neuron")(batch(acts, [0, 0]))
    torch.testing.assert_close(neurons, (acts[:, 0, 1, 2] + acts[:, 2, 0, 0]) / 2)
    spatial = UnitSet("l", [[0, 0], [2, 2]], kind="spatial")(batch(acts, [0, 0]))
    torch.testing.assert_close(spatial, (acts[:, :, 0, 0].mean(1) + acts[:, :, 2, 2].mean(1)) / 2)
    # a set per unit id: image 0 renders set 1, image 1 set 0
    per_unit = UnitSet("l", sets=[[0], [1, 2]])(batch(acts, [1, 0]))
    torch.testing.assert_close(per_unit, torch.stack([acts[0, 1:3].mean(), acts[1, 0].mean()]))
    logits = torch.randn(2, 10)
    torch.testing.assert_close(UnitSet("l", [3, 7])(batch(logits, [0, 0])), logits[:, [3, 7]].mean(1))


def test_unit_set_refuses_bad_members_early():
    with pytest.raises(ValueError, match="either members"):
        UnitSet("l")
    with pytest.raises(ValueError, match="neuron member is 3 numbers"):
        UnitSet("l", [[1, 2, 3, 4]], kind="neuron")
    with pytest.raises(ValueError, match="Channel 16 .* out of range"):
        UnitSet("l", [1, 16]).num_units({"l": (16, 4, 4)})
    with pytest.raises(ConfigError, match="valid units are 0-1"):  # the module checks unit ids against the sets
        ActMaxModule(backbone=TINY, objective=UnitSet("features.2", sets=[[0], [1]]), units="0-2", size=32,
                     save_outputs=False)


def test_optimizing_a_set_and_a_position_raises_them(tmp_path):
    import pytorch_lightning as pl

    for objective in (UnitSet("features.2", [1, 5, 9]), Spatial("features.2", y=4, x=4),
                      UnitSet("features.2", [[3, 2, 2], [0, 5, 5]], kind="neuron")):
        module = ActMaxModule(backbone=TINY, objective=objective, units=[0], size=32, batch_size=1, steps_per_epoch=8,
                              epochs=1, param=Pixel(), transforms=Compose([]), save_outputs=False,
                              optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
        with torch.no_grad():
            start = objective.activation(RenderBatch(
                acts=module.renderer.probe(module.renderer.preprocess(torch.full((1, 3, 32, 32), 0.5))), units=torch.tensor([0])))
        trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False)
        trainer.fit(module)
        assert float(module.last_finished.activations[0]) > float(start[0]) + 0.05, objective.describe()
