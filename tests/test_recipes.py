"""lit_actmax.recipes: every named method in one table; the default recipes are what the renderer uses when given
nothing (for units of the output, and of inner layers), and what configs/quickstart.yaml spells out."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit, Renderer
from lit_actmax.augment import Transform
from lit_actmax.core.schedule import UnitImage
from lit_actmax.errors import ConfigError
from lit_actmax.objectives import PerLayer
from lit_actmax.params import ImageParam
from lit_actmax.recipes import DEFAULT_RECIPE, INNER_LAYER_RECIPE, RECIPES, Recipe, get_recipe
from lit_actmax.run.checkpoint_state import describe_setting
from lit_actmax.testing import tiny_backbone

ROOT = Path(__file__).resolve().parents[1]
TINY = "lit_actmax.testing:tiny_backbone"


def optimizer_settings(factory) -> tuple[type, dict]:
    """The optimizer ``factory`` builds on a stand-in parameter: its class and every hyperparameter."""
    optimizer = factory([torch.nn.Parameter(torch.zeros(1, 3, 4, 4))])
    return type(optimizer), {k: v for k, v in optimizer.defaults.items() if k != "params"}


def render(param: ImageParam | None, transforms: Transform | None, factory, objective=None) -> torch.Tensor:
    """(2, 3, 32, 32): units 1 and 2 of the tiny backbone (classes unless ``objective`` says otherwise), three steps
    from seed 3."""
    renderer = Renderer(tiny_backbone(), objective or ClassLogit(), param=param, transforms=transforms, size=32, steps=3,
                        seed=3)
    renderer.validate([1, 2])
    renderer.attach()
    try:
        renderer.start([UnitImage(1, 0, True), UnitImage(2, 0, True)])
        images, _ = renderer.optimize(3, factory)
    finally:
        renderer.detach()
    return images


def test_every_recipe_has_its_own_name_and_makes_fresh_parts():
    names = [recipe.name for recipe in RECIPES]
    assert len(set(names)) == len(names) and DEFAULT_RECIPE in RECIPES and INNER_LAYER_RECIPE in RECIPES
    for recipe in RECIPES:
        assert get_recipe(recipe.name) is recipe and recipe.note
        param = recipe.param()
        assert isinstance(param, ImageParam) and param is not recipe.param()
        assert isinstance(recipe.transforms(), Transform) and recipe.transforms() is not recipe.transforms()
        assert optimizer_settings(recipe.optimizer_factory())[1]["lr"] == recipe.lr
    assert get_recipe("pixel+crops").views_per_step == 2 and get_recipe("vit").views_per_step == 8
    assert get_recipe("pixel").views_per_step == 1 == DEFAULT_RECIPE.views_per_step


def test_an_unknown_name_is_one_sentence_listing_the_recipes():
    with pytest.raises(ConfigError, match=r"no recipe 'lucidity'; choose one of natural, channels, pixel, .*vit\.$"):
        get_recipe("lucidity")


def test_a_recipe_is_frozen_and_a_variant_is_a_replacement():
    import dataclasses

    maco = get_recipe("maco")
    with pytest.raises(dataclasses.FrozenInstanceError):
        maco.lr = 0.5
    variant = dataclasses.replace(maco, name="maco, Adam 0.5", lr=0.5, optimizer=torch.optim.Adam)
    assert isinstance(variant, Recipe) and optimizer_settings(variant.optimizer_factory())[0] is torch.optim.Adam
    assert get_recipe("maco").lr == 1.0


def test_the_default_recipe_is_what_the_renderer_uses_when_given_nothing():
    defaults = Renderer(tiny_backbone(), ClassLogit(), size=32)
    assert describe_setting(defaults.param) == describe_setting(DEFAULT_RECIPE.param())
    assert describe_setting(defaults.transforms) == describe_setting(DEFAULT_RECIPE.transforms())
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units=[0], save_outputs=False)
    assert optimizer_settings(module.optimizer_factory) == optimizer_settings(DEFAULT_RECIPE.optimizer_factory())
    # ... and so it draws the same images, bit for bit
    recipe = render(DEFAULT_RECIPE.param(), DEFAULT_RECIPE.transforms(), DEFAULT_RECIPE.optimizer_factory())
    assert torch.equal(render(None, None, None), recipe)


def test_an_objective_of_an_inner_layer_gets_the_inner_layer_recipe():
    channel = Channel("features.2")
    defaults = Renderer(tiny_backbone(), channel, size=32)
    assert describe_setting(defaults.param) == describe_setting(INNER_LAYER_RECIPE.param())
    assert describe_setting(defaults.transforms) == describe_setting(INNER_LAYER_RECIPE.transforms())
    assert describe_setting(defaults.transforms) != describe_setting(DEFAULT_RECIPE.transforms())
    assert INNER_LAYER_RECIPE.lr == DEFAULT_RECIPE.lr and INNER_LAYER_RECIPE.optimizer is DEFAULT_RECIPE.optimizer
    recipe = render(INNER_LAYER_RECIPE.param(), INNER_LAYER_RECIPE.transforms(), INNER_LAYER_RECIPE.optimizer_factory(),
                    channel)
    assert torch.equal(render(None, None, None, channel), recipe)
    assert not torch.equal(recipe, render(DEFAULT_RECIPE.param(), DEFAULT_RECIPE.transforms(),
                                          DEFAULT_RECIPE.optimizer_factory(), channel))
    # a run of classes and channels (an atlas) reads an inner layer: the inner layers' method for all of it
    mixed = Renderer(tiny_backbone(), PerLayer([ClassLogit(), Channel("features.2")]), size=32)
    assert describe_setting(mixed.transforms) == describe_setting(INNER_LAYER_RECIPE.transforms())


def test_the_quickstart_spells_out_the_default_recipe():
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    quickstart = ActMaxCLI(args=["--config", str(ROOT / "configs" / "quickstart.yaml"), "--model.backbone", TINY,
                                 "--model.units", "0-1", "--model.size", "32"], run=False).model
    renderer = quickstart.renderer
    assert describe_setting(renderer.param) == describe_setting(DEFAULT_RECIPE.param())
    assert describe_setting(renderer.transforms) == describe_setting(DEFAULT_RECIPE.transforms())
    assert optimizer_settings(quickstart.optimizer_factory) == optimizer_settings(DEFAULT_RECIPE.optimizer_factory())


def test_the_lite0_atlas_uses_the_library_defaults_for_inner_layers():
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    atlas = ActMaxCLI(args=["--config", str(ROOT / "configs" / "atlas" / "lite0.yaml"),
                            "--model.backbone", TINY, "--model.units", '{"features.2": "0-1", "output": "0-1"}',
                            "--model.size", "32"], run=False).model
    renderer = atlas.renderer
    assert describe_setting(renderer.param) == describe_setting(INNER_LAYER_RECIPE.param())
    assert describe_setting(renderer.transforms) == describe_setting(INNER_LAYER_RECIPE.transforms())
    assert optimizer_settings(atlas.optimizer_factory) == optimizer_settings(INNER_LAYER_RECIPE.optimizer_factory())
