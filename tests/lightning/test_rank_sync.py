"""lightning/rank_sync.py: the ranks agree on a stop after the same step, and a failed or lost rank becomes every rank's
sentence. Two ranks are two RankSync objects on one in-memory store, each in a thread, as two processes would be on
their process group's store."""

import subprocess
import sys
import threading
import time

import pytest
import torch.distributed as dist

from lit_actmax.errors import RankFailureError
from lit_actmax.lightning.rank_sync import RankSync, rank_sync_of


def pair(lost_after: float = 60.0) -> list[RankSync]:
    store = dist.HashStore()
    return [RankSync(store, rank, 2, lost_after=lost_after) for rank in (0, 1)]


def both(calls):
    """Run ``calls[r]()`` for both ranks at once; their results (or the exception each raised)."""
    results: list = [None, None]

    def run(r):
        try:
            results[r] = calls[r]()
        except Exception as error:  # noqa: BLE001 - the test looks at it
            results[r] = error

    threads = [threading.Thread(target=run, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a rank hung"
    return results


def test_every_rank_takes_the_requests_of_any_rank_after_the_same_step():
    ranks = pair()
    assert both([lambda: ranks[0].agree(), lambda: ranks[1].agree()]) == [[], []]
    assert both([lambda: ranks[0].agree(["requeue"]), lambda: ranks[1].agree(["preempt"])]) == [
        ["preempt", "requeue"], ["preempt", "requeue"]]
    assert both([lambda: ranks[0].agree(["interrupt"]), lambda: ranks[1].agree(["interrupt"])]) == [
        ["interrupt"], ["interrupt"]]  # asked twice, taken once
    assert both([lambda: ranks[0].agree(), lambda: ranks[1].agree()]) == [[], []]  # a request is for its step only
    both([lambda: ranks[0].meet("end"), lambda: ranks[1].meet("end")])


def test_a_posted_failure_stops_the_rank_waiting_for_the_failed_one_with_its_sentence():
    ranks = pair()

    def fail():
        time.sleep(0.3)
        ranks[1].publish_failure("Unit 3 diverged; lower the learning rate.", 2)
        ranks[1].wait_handled()
        return "waited"

    def wait():
        try:
            ranks[0].agree()
        finally:
            ranks[0].handled()

    error, waited = both([wait, fail])
    assert isinstance(error, RankFailureError) and error.exit_code == 2
    assert str(error) == "Unit 3 diverged; lower the learning rate (on rank 1 of 2; every rank stops)."
    assert waited == "waited" and ranks[0].failure().rank == 1
    ranks[0].publish_failure("a second failure", 1)  # the first one posted stays the one every rank tells
    assert ranks[1].failure().sentence == "Unit 3 diverged; lower the learning rate."


def test_a_rank_without_heartbeat_or_whose_child_process_ended_is_lost():
    ranks = pair(lost_after=0.5)
    ranks[1].start_heartbeat()
    try:
        assert ranks[0].lost_ranks() == []
        time.sleep(1.2)
        assert ranks[0].lost_ranks() == []  # rank 1 beats
    finally:
        ranks[1].close()
    time.sleep(1.5)
    ranks[0].lost_ranks()  # sees the count stand still from here
    time.sleep(0.7)
    assert ranks[0].lost_ranks() == [(1, "no sign of life for 0.5 s")]
    with pytest.raises(RankFailureError, match=r"^Rank 1 of 2 was lost \(no sign of life for 0.5 s\), so every rank stops"):
        ranks[0].agree()

    child = subprocess.Popen([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
    child.wait()
    watcher = RankSync(dist.HashStore(), 0, 2, children=[child], first_child_rank=1)
    with pytest.raises(RankFailureError, match=r"Rank 1 of 2 was lost \(killed by signal 9\)"):
        watcher.agree()


def test_one_process_agrees_with_itself_and_a_store_that_is_gone_is_a_lost_contact():
    single = rank_sync_of(object())
    assert not single.shared and single.agree(["preempt", "interrupt"]) == ["interrupt", "preempt"]
    single.publish_failure("nothing to tell")
    assert single.failure() is None

    class Gone:
        def add(self, *args):
            raise RuntimeError("Connection reset by peer")

        def check(self, keys):
            raise RuntimeError("Connection reset by peer")

    with pytest.raises(RankFailureError, match=r"^Rank 1 of 2 lost contact with the others \(the store of their "
                                               r"process group, hosted by rank 0 or the launcher, is gone: RuntimeError\)"):
        RankSync(Gone(), 1, 2).agree()
