"""run/folders.py: one new folder per run, never an existing one."""



from lit_actmax.run.folders import new_run_dir


def test_new_run_dir_counts_up_and_never_returns_an_existing_folder(tmp_path):
    made = [new_run_dir(tmp_path, "run") for _ in range(3)]
    assert [p.name for p in made] == ["version_0", "version_1", "version_2"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)
    made[0].rmdir()  # a hole below the highest version is not filled
    assert new_run_dir(tmp_path, "run").name == "version_3"


def test_new_run_dir_continues_after_the_highest_version_and_ignores_other_names(tmp_path):
    base = tmp_path / "run"
    for name in ("version_4", "version_x", "notes", "version_10_old"):
        (base / name).mkdir(parents=True)
    (base / "version_7").write_text("a file holds the name too")
    assert new_run_dir(tmp_path, "run") == base / "version_8"


def test_new_run_dir_makes_the_name_safe(tmp_path):
    assert new_run_dir(tmp_path / "out", "my run/2") == tmp_path / "out" / "my_run_2" / "version_0"
