"""run/records.py: file stems and the records of a run folder."""


import pytest

from lit_actmax.run.files import write_json
from lit_actmax.run.records import image_stem, iter_records, read_record


@pytest.mark.parametrize("args, stem", [
    ((130,), "unit_00130"), ((130, 0, 1), "unit_00130"), ((130, 0, 2), "unit_00130_v0"), ((7, 2, 3), "unit_00007_v2"),
    ((123456,), "unit_123456"),
])
def test_image_stem(args, stem):
    assert image_stem(*args) == stem


def test_iter_records_reads_every_unit_record_sorted_by_layer_unit_and_variant(tmp_path):
    records = [
        {"layer": "b", "unit": 1, "variant": 0}, {"layer": "a", "unit": 10, "variant": 1},
        {"layer": "a", "unit": 10, "variant": 0}, {"layer": "a", "unit": 2, "variant": 0},
    ]
    for i, record in enumerate(records):  # file names in another order than the records' contents
        write_json(tmp_path / "images" / record["layer"] / f"unit_{9 - i:05d}.json", record)
    write_json(tmp_path / "index.json", {"units": []})
    write_json(tmp_path / "images" / "a" / "notes.json", {"layer": "a", "unit": 0})
    (tmp_path / "images" / "a" / "unit_00000.png").write_bytes(b"")
    assert list(iter_records(tmp_path)) == [records[3], records[2], records[1], records[0]]


def test_iter_records_of_a_run_without_images_is_empty(tmp_path):
    assert list(iter_records(tmp_path)) == []


def test_a_record_that_does_not_parse_or_lacks_its_keys_is_none_and_left_out(tmp_path):
    folder = tmp_path / "images" / "a"
    write_json(folder / "unit_00000.json", {"layer": "a", "unit": 0, "variant": 0, "image": "images/a/unit_00000.png"})
    (folder / "unit_00001.json").write_text('{"layer": "a", "unit": 1, "var')  # cut short by a full disk
    write_json(folder / "unit_00002.json", {"layer": "a", "unit": "two"})
    (folder / "unit_00003.json").write_bytes(b"\xff\xfe")
    assert [read_record(folder / f"unit_0000{i}.json") is None for i in range(4)] == [False, True, True, True]
    assert [r["unit"] for r in iter_records(tmp_path)] == [0]
