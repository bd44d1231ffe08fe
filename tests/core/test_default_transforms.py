"""lit_actmax.core.default_transforms: a renderer given no transforms picks them by what its objective reads."""

from lit_actmax.augment import mirrored_lucid_transforms, natural_transforms
from lit_actmax.core.default_transforms import default_transforms, reads_inner_layers
from lit_actmax.objectives import Channel, ClassLogit, Direction, Neuron, PerLayer, TotalVariation
from lit_actmax.run.checkpoint_state import describe_setting

NATURAL, MIRRORED = describe_setting(natural_transforms()), describe_setting(mirrored_lucid_transforms())


def test_units_of_the_output_get_one_window_per_step():
    for objective in (ClassLogit(), ClassLogit("output") - 0.05 * TotalVariation(), PerLayer.of(ClassLogit())):
        assert not reads_inner_layers(objective)
        assert describe_setting(default_transforms(objective)) == NATURAL


def test_units_of_an_inner_layer_get_full_size_mirrored_views():
    for objective in (Channel("features.8", 3), Neuron("features.8"), Direction("features.8", [1.0, 0.0]),
                      Channel("features.8") - 0.05 * TotalVariation(), PerLayer([ClassLogit(), Channel("features.2")])):
        assert reads_inner_layers(objective)
        assert describe_setting(default_transforms(objective)) == MIRRORED
    assert default_transforms(Channel("features.8")) is not default_transforms(Channel("features.8"))  # fresh each
