"""UnitSchedule: units -> rank shard -> groups -> epochs -> step in group, as plain arithmetic."""

from __future__ import annotations

import pytest

from lit_actmax.core.schedule import UnitImage, UnitSchedule
from lit_actmax.errors import ConfigError


def test_groups_cut_this_ranks_units_in_order():
    schedule = UnitSchedule(tuple(range(10)), batch_size=4)
    assert schedule.my_units == tuple(range(10))
    assert [[i.unit for i in g] for g in schedule.groups] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(i.saved and i.variant == 0 for g in schedule.groups for i in g)


def test_ranks_deal_units_round_robin_and_stay_in_step():
    whole = UnitSchedule((3, 1, 7, 5, 9), batch_size=2, epochs=3)
    ranks = [whole.for_rank(r, 2) for r in range(2)]
    assert [r.my_units for r in ranks] == [(3, 7, 9), (1, 5)]
    assert [r.num_groups for r in ranks] == [2, 2]  # ceil(5 units / (2 per group * 2 ranks))
    assert ranks[0].groups == ((UnitImage(3, 0, True), UnitImage(7, 0, True)), (UnitImage(9, 0, True),))
    assert ranks[1].groups == ((UnitImage(1, 0, True), UnitImage(5, 0, True)), (UnitImage(5, 0, False),))
    assert ranks[0].total_epochs == ranks[1].total_epochs == 6


def test_a_rank_without_units_left_repeats_its_last_one_unsaved():
    rank = UnitSchedule((0, 1, 2), batch_size=1).for_rank(1, 2)
    assert rank.my_units == (1,)
    assert rank.groups == ((UnitImage(1, 0, True),), (UnitImage(1, 0, False),))


def test_variants_share_a_group():
    schedule = UnitSchedule((4, 5, 6), batch_size=5, variants=2)
    assert schedule.units_per_group == 2
    assert [tuple(g) for g in schedule.groups] == [
        (UnitImage(4, 0, True), UnitImage(4, 1, True), UnitImage(5, 0, True), UnitImage(5, 1, True)),
        (UnitImage(6, 0, True), UnitImage(6, 1, True)),
    ]


def test_epochs_and_steps_map_to_groups():
    schedule = UnitSchedule(tuple(range(6)), batch_size=2, epochs=4, steps_per_epoch=5)
    assert schedule.total_epochs == 12 and schedule.steps_per_unit == 20
    assert [schedule.group_of(e) for e in (0, 3, 4, 11)] == [0, 0, 1, 2]
    assert [schedule.epoch_in_group(e) for e in (0, 3, 4, 11)] == [0, 3, 0, 3]
    assert [schedule.is_last_epoch_of_group(e) for e in (2, 3, 4)] == [False, True, False]
    assert schedule.step_in_group(epoch=6, batch_idx=2) == 2 * 5 + 2
    assert schedule.items_of(2) == schedule.groups[2] and schedule.items_of(3) == () and schedule.items_of(-1) == ()


def test_with_batch_size_regroups_the_same_units():
    schedule = UnitSchedule(tuple(range(5)), batch_size=1).for_rank(0, 1).with_batch_size(4)
    assert [len(g) for g in schedule.groups] == [4, 1] and schedule.units == tuple(range(5))


@pytest.mark.parametrize("options, message", [
    (dict(batch_size=0), "batch_size must be at least 1"),
    (dict(epochs=0), "epochs must be at least 1"),
    (dict(steps_per_epoch=0), "steps_per_epoch must be at least 1"),
    (dict(batch_size=2, variants=3), r"variants \(3\) must not exceed batch_size \(2\)"),
    (dict(rank=2, world_size=2), "rank 2 is outside 0-1"),
])
def test_bad_settings_get_one_sentence(options, message):
    with pytest.raises(ConfigError, match=message):
        UnitSchedule((0, 1), **options)


def test_no_units_is_refused():
    with pytest.raises(ConfigError, match="No units to render"):
        UnitSchedule(())
