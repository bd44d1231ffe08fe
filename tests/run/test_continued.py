"""run/continued.py: a continued folder holds the images of one set of settings, lists its finished units and finds
the damaged ones."""

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
    assert check_folder(run, settings).done == set()
    assert read_json(tmp_path / "atlas" / "settings.json") == settings
    finished = FinishedUnits(units=[3, 5], variants=[0, 0], images=torch.rand(2, 3, 8, 8), activations=torch.ones(2),
                             valid=[True, True], targets=[1, 0], steps_done=4)
    run.write_units(finished)
    cut_short = FinishedUnits(units=[7], variants=[0], images=torch.rand(1, 3, 8, 8), activations=torch.ones(1),
                              valid=[True], targets=[0], steps_done=2)
    run.write_units(cut_short)  # a group cut short is not done
    state = check_folder(run, settings)
    assert state.done == {(1, 3), (0, 5)} and state.damaged == {}


def test_other_settings_are_refused_naming_each_difference(tmp_path):
    run = writer(tmp_path)
    check_folder(run, folder_settings(FINGERPRINT, True))
    other = folder_settings({**FINGERPRINT, "size": [96, 96]}, True)
    with pytest.raises(ConfigError, match=r"were made with other settings: size 64 \(now 96\); use those settings"):
        check_folder(run, other)
    today = folder_settings({**FINGERPRINT, "optimizer": "lit_actmax.core.optim.default_optimizer"}, True)
    assert check_folder(run, today).done == set()  # a module path of an earlier release is the same setting


def test_images_without_settings_are_refused(tmp_path):
    (tmp_path / "images" / "a").mkdir(parents=True)
    (tmp_path / "images" / "a" / "unit_00000.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds images but no settings.json"):
        check_folder(writer(tmp_path), folder_settings(FINGERPRINT, True))
    assert not (tmp_path / "settings.json").exists()


def four_units(tmp_path):
    """A continued folder holding units 0-3 of layer ``a`` (one target), complete."""
    run = RunWriter(tmp_path, "a", steps=4, targets=[("a", "Channel(a)")])
    settings = folder_settings(FINGERPRINT, False)
    check_folder(run, settings)
    run.write_units(FinishedUnits(units=[0, 1, 2, 3], variants=[0] * 4, images=torch.rand(4, 3, 8, 8),
                                  activations=torch.ones(4), valid=[True] * 4, steps_done=4))
    return run, settings


def test_damaged_units_are_not_done_and_named_with_what_is_wrong(tmp_path):
    run, settings = four_units(tmp_path)
    (tmp_path / "images" / "a" / "unit_00000.png").unlink()  # a deleted PNG
    record = tmp_path / "images" / "a" / "unit_00001.json"
    record.write_text(record.read_text()[:40])  # a truncated record
    png = tmp_path / "images" / "a" / "unit_00002.png"
    png.write_bytes(png.read_bytes()[:-30])  # a PNG cut short (a copy that stopped)
    (tmp_path / "images" / "a" / "unit_00003.json").unlink()  # a PNG without its record
    (tmp_path / "images" / "a" / ".unit_00003.png.x1y2.tmp").write_bytes(b"half")  # a write a kill cut short
    state = check_folder(run, settings)
    assert state.done == set()
    assert state.damaged == {(0, 0): "unit_00000.png is missing", (0, 1): "unit_00001.json does not parse",
                             (0, 2): "unit_00002.png is truncated", (0, 3): "unit_00003.png has no record"}
    assert state.damage_line(run) == (f"Rendering 4 damaged unit(s) of {tmp_path} again: unit 0 (unit_00000.png is "
                                      "missing), unit 1 (unit_00001.json does not parse), unit 2 (unit_00002.png is "
                                      "truncated), unit 3 (unit_00003.png has no record).")
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_settings_file_that_does_not_parse_is_one_sentence_naming_it(tmp_path):
    run, settings = four_units(tmp_path)
    path = tmp_path / "settings.json"
    path.write_text(path.read_text()[:25])
    with pytest.raises(ConfigError, match=rf"^{path} does not parse \(JSONDecodeError: .*\), so the settings of the "
                                          r"images in .* are unknown; restore it .* or pick another run_dir\.$"):
        check_folder(run, settings)


def test_a_folder_of_another_layer_that_this_run_would_overwrite_is_refused(tmp_path):
    """An earlier release named the folder of layer ``a#0`` ``a_0``, the folder of layer ``a_0`` today."""
    run, settings = four_units(tmp_path)
    old = RunWriter(tmp_path, "a#0", steps=4, targets=[("a#0", "Channel(a#0)")])
    (tmp_path / "images" / "a").rename(tmp_path / "images" / "a_0")
    for path in (tmp_path / "images" / "a_0").glob("*.json"):
        path.write_text(path.read_text().replace('"layer": "a"', '"layer": "a#0"').replace("images/a/", "images/a_0/"))
    assert check_folder(old, settings).done == {(0, 0), (0, 1), (0, 2), (0, 3)}  # found where the old release put them
    with pytest.raises(ConfigError, match=r"images/a_0 holds units of layer 'a#0', which this run's layer 'a_0' would "
                                          r"overwrite; move that folder away"):
        check_folder(RunWriter(tmp_path, "a_0", steps=4, targets=[("a_0", "Channel(a_0)")]), settings)
