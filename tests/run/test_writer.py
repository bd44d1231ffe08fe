"""run/writer.py: units of layers whose names sanitize alike go to different folders, and a continued folder made
by both keeps both."""

import torch

from lit_actmax.run.continued import check_folder, folder_settings
from lit_actmax.run.records import FinishedUnits, iter_records
from lit_actmax.run.writer import RunWriter


def test_two_layers_whose_names_sanitize_alike_keep_their_own_units_and_grids(tmp_path):
    targets = [("blocks.0#1", "Channel(blocks.0#1)"), ("blocks.0_1", "Channel(blocks.0_1)")]
    run = RunWriter(tmp_path, targets[0][0], steps=4, targets=targets)
    assert check_folder(run, folder_settings({"size": [8, 8]}, True)).done == set()
    images = torch.rand(2, 3, 8, 8)
    run.write_units(FinishedUnits(units=[0, 0], variants=[0, 0], images=images, activations=torch.tensor([1.0, 2.0]),
                                  valid=[True, True], targets=[0, 1], steps_done=4))
    folders = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert len(folders) == 2 and "blocks.0_1" in folders and any(f.startswith("blocks.0_1~") for f in folders)
    assert sorted((r["layer"], r["activation"]) for r in iter_records(tmp_path)) == [("blocks.0#1", 1.0), ("blocks.0_1", 2.0)]
    # a second run continuing the folder, with the layers in the other order, finds both units done
    again = RunWriter(tmp_path, targets[1][0], steps=4, targets=targets[::-1])
    assert check_folder(again, folder_settings({"size": [8, 8]}, True)).done == {(0, 0), (1, 0)}
    index = run.write_index(run_summary_stub(), {("blocks.0#1", 0, 0), ("blocks.0_1", 0, 0)}, tile=8)
    assert len(list((tmp_path / "grids").glob("*.png"))) == 2 and index.is_file()


def run_summary_stub():
    from lit_actmax.run.records import RunSummary

    return RunSummary(backbone="tiny", objective="per layer: channel", regularizers=[], layers=["blocks.0#1", "blocks.0_1"],
                      param="Pixel", size=[8, 8], steps_per_unit=4, seed=0, world_size=1, config={})
