"""UnitProgressBar: progress counted in units rendered over the whole run, with its remaining time."""

import re

import pytest

from lit_actmax import ActMaxModule, Channel
from lit_actmax.augment import Compose
from lit_actmax.callbacks import UnitProgressBar
from lit_actmax.core.schedule import UnitSchedule

TINY = "lit_actmax.testing:tiny_backbone"


def bar_lines(text: str) -> list[str]:
    """The successive states of a tqdm bar written to a captured stream."""
    return [line.strip() for line in re.split(r"[\r\n]", text) if line.strip()]


def test_describe_counts_finished_units_groups_and_steps():
    schedule = UnitSchedule(range(5), batch_size=2, epochs=2, steps_per_epoch=3)  # groups [0 1] [2 3] [4], 6 steps
    bar = UnitProgressBar()
    assert bar.describe(schedule, 0) == "units 0/5 [group 1/3] step 0/6"
    assert bar.describe(schedule, 5) == "units 0/5 [group 1/3] step 5/6"
    assert bar.describe(schedule, 6) == "units 2/5 [group 1/3] step 6/6"
    assert bar.describe(schedule, 7) == "units 2/5 [group 2/3] step 1/6"
    assert bar.describe(schedule, 18) == "units 5/5 [group 3/3] step 6/6"


def test_variants_and_other_ranks_count_units_not_images():
    schedule = UnitSchedule(range(3), batch_size=2, variants=2, epochs=1, steps_per_epoch=2).for_rank(1, 2)
    bar = UnitProgressBar()  # rank 1 of 2 renders unit 1 (2 images); groups: [1 1] then an unsaved pad group
    assert bar.describe(schedule, 2) == "units 1/1 per rank x2 [group 1/2] step 2/2"
    assert bar.describe(schedule, 4) == "units 1/1 per rank x2 [group 2/2] step 2/2"


def test_fit_shows_units_and_the_remaining_time_of_the_run(tmp_path, make_trainer, capsys):
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-2", size=32, batch_size=2,
                          steps_per_epoch=2, epochs=2, transforms=Compose([]), save_outputs=False)
    make_trainer(enable_progress_bar=True, callbacks=[UnitProgressBar()]).fit(module)
    lines = bar_lines(capsys.readouterr().out)
    assert any(line.startswith("units 0/3 [group 1/2] step 1/4:") for line in lines), lines
    assert any(line.startswith("units 2/3 [group 1/2] step 4/4:") for line in lines), lines
    last = lines[-1]
    assert last.startswith("units 3/3 [group 2/2] step 4/4: 100%"), last
    assert "ETA 00:00" in last and "activation=" in last and "v_num" not in last
    assert not any("Epoch" in line for line in lines)


def test_refresh_rate_zero_hides_the_bar(tmp_path, make_trainer, capsys):
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-1", size=32, batch_size=2,
                          steps_per_epoch=2, epochs=1, transforms=Compose([]), save_outputs=False)
    make_trainer(enable_progress_bar=True, callbacks=[UnitProgressBar(refresh_rate=0)]).fit(module)
    assert "units" not in capsys.readouterr().out


def test_other_modules_get_lightnings_bar(tmp_path, make_trainer, capsys):
    from pytorch_lightning.demos.boring_classes import BoringModel

    make_trainer(enable_progress_bar=True, callbacks=[UnitProgressBar()], max_epochs=1, limit_train_batches=2,
                 limit_val_batches=0).fit(BoringModel())
    assert "Epoch 0" in capsys.readouterr().out


@pytest.mark.parametrize("bar", [False, True])
def test_checkpoint_resume_continues_the_count(tmp_path, make_trainer, capsys, bar):
    """A resumed run starts the bar at the steps already taken (its rate counts only this session's steps)."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    def module():
        return ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=2,
                            steps_per_epoch=2, epochs=2, transforms=Compose([]), save_outputs=False)

    make_trainer(enable_checkpointing=True, max_steps=4, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ck")]).fit(module())
    capsys.readouterr()
    ckpt = next((tmp_path / "ck").glob("*.ckpt"))
    callbacks = [UnitProgressBar()] if bar else []
    make_trainer(enable_progress_bar=bar, callbacks=callbacks).fit(module(), ckpt_path=str(ckpt))
    lines = bar_lines(capsys.readouterr().out)
    if bar:
        assert lines[0].startswith("units 2/4 [group 1/2] step 4/4:  50%|"), lines
        assert lines[-1].startswith("units 4/4 [group 2/2] step 4/4: 100%"), lines
    else:
        assert not lines
