"""run/continued.py: a continued folder holds the images of one set of settings and lists its finished units."""

import pytest
import torch

from lit_actmax.errors import ConfigError
from lit_actmax.run.continued import check_folder, folder_settings
from lit_actmax.run.files import read_json
from lit_actmax.run.records import FinishedUnits
from lit_actmax.run.writer import RunWriter

FINGERPRINT = {"backbone": "lite0", "objective": "PerLayer(targets=[...])", "units": ["a:0", "b:1"], "world_size": 2,
               "size": [64, 64], "optimizer": "lit_actmax.optim.default_optimizer"}


def writer(run_dir, steps=4):
    return RunWriter(run_dir, "a", steps=steps, targets=[("a", "Channel(a)"), ("b", "Channel(b)")])


def test_the_settings_leave_out_units_and_world_size_and_name_the_kind_per_layer():
    assert folder_settings(FINGERPRINT, across_layers=True, objective_kind="channel") == {
        "backbone": "lite0", "objective": "per layer: channel", "size": [64, 64],
        "optimizer": "lit_actmax.optim.default_optimizer"}
    assert folder_settings(FINGERPRINT, across_layers=False)["objective"] == "PerLayer(targets=[...])"


def test_a_new_folder_gets_the_settings_and_a_finished_unit_is_listed(tmp_path):
    run = writer(tmp_path / "atlas")
    settings = folder_settings(FINGERPRINT, True)
    assert check_folder(run, settings) == set()
    assert read_json(tmp_path / "atlas" / "settings.json") == settings
    finished = FinishedUnits(units=[3, 5], variants=[0, 0], images=torch.rand(2, 3, 8, 8), activations=torch.ones(2),
                             valid=[True, True], targets=[1, 0], steps_done=4)
    run.write_units(finished)
    cut_short = FinishedUnits(units=[7], variants=[0], images=torch.rand(1, 3, 8, 8), activations=torch.ones(1),
                              valid=[True], targets=[0], steps_done=2)
    run.write_units(cut_short)  # a group cut short is not done
    assert check_folder(run, settings) == {(1, 3), (0, 5)}


def test_other_settings_are_refused_naming_each_difference(tmp_path):
    run = writer(tmp_path)
    check_folder(run, folder_settings(FINGERPRINT, True))
    other = folder_settings({**FINGERPRINT, "size": [96, 96]}, True)
    with pytest.raises(ConfigError, match=r"were made with other settings: size 64 \(now 96\); use those settings"):
        check_folder(run, other)
    today = folder_settings({**FINGERPRINT, "optimizer": "lit_actmax.core.optim.default_optimizer"}, True)
    assert check_folder(run, today) == set()  # a module path of an earlier release is the same setting


def test_images_without_settings_are_refused(tmp_path):
    (tmp_path / "images" / "a").mkdir(parents=True)
    (tmp_path / "images" / "a" / "unit_00000.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds images but no settings.json"):
        check_folder(writer(tmp_path), folder_settings(FINGERPRINT, True))
    assert not (tmp_path / "settings.json").exists()
