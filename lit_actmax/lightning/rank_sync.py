"""What the processes of a multi-process fit tell each other outside their collectives: a stop that every rank takes
after the same optimizer step, and one rank's failure or loss that becomes every rank's sentence.

Collectives cannot carry this: a rank that failed is not in the collective its peers wait in, and a rank that was
killed never will be. So the ranks use the key-value store of their process group (the ``TCPStore`` of the
rendezvous, which Lightning's launcher, torchrun and srun all make), which answers whatever each rank is doing:

- **A step everyone agrees on** (:meth:`RankSync.agree`): at the end of every optimizer step each rank posts what it
  was asked (a signal it received, or nothing) and arrives at the step; once all have arrived every rank reads the
  same requests, so all stop after the same step and can save one checkpoint together. :meth:`RankSync.meet` is the
  same without requests, for the end of the run.
- **A failure** (:meth:`RankSync.publish_failure`): the failing rank posts its sentence and exit code and ends its
  process group, so a peer waiting in a collective gets an error at once instead of a timeout; a peer learns it at
  its next agreement (:class:`~lit_actmax.errors.RankFailureError`) or reads it after that error
  (:meth:`RankSync.failure`), stops with the same sentence and says so (:meth:`RankSync.handled`); the failing rank
  waits for that (:meth:`RankSync.wait_handled`, bounded) so the store, which rank 0 hosts under Lightning's
  launcher and srun, outlives the peers' reading.
- **A lost rank** (killed, out of memory, its node gone): a thread per rank bumps a heartbeat counter every second;
  a rank whose counter stands still for ``lost_after`` seconds, whose store went away, or (rank 0 under Lightning's
  launcher) whose child process ended is lost, and every other rank stops with a sentence that says so.

One process (``RankSync.single()``) agrees with itself: its own request is the answer, and nothing is posted.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch.distributed as dist

from ..errors import RankFailureError
from ..exits import EXIT_ERROR

__all__ = ["Failure", "RankSync", "STOP_KINDS", "rank_sync_of"]

#: What a rank may ask every rank to do after a step (:meth:`RankSync.agree` answers in this order).
STOP_KINDS = ("interrupt", "preempt", "requeue")
#: Seconds between two heartbeats of a rank.
BEAT_EVERY = 1.0
#: The longest pause between two polls of the store while a rank waits for the others.
LONGEST_POLL = 0.02
_FITS = [0]  # fits this process has started: the store's keys of each fit are its own (the same on every rank)


@dataclass(frozen=True)
class Failure:
    """What a failing rank posted: its global ``rank``, its ``sentence`` and the ``exit_code`` its process ends with."""

    rank: int
    sentence: str
    exit_code: int = EXIT_ERROR

    def error(self, world_size: int) -> RankFailureError:
        """The error every other rank raises: the failing rank's sentence, said by every rank."""
        sentence = self.sentence.rstrip(".")
        return RankFailureError(f"{sentence} (on rank {self.rank} of {world_size}; every rank stops).", self.exit_code)


class RankSync:
    """The store protocol of one fit (see the module docstring).

    Args:
        store: the process group's store (``None`` for one process).
        rank, world_size: this process's global rank and the number of processes.
        lost_after: seconds without a heartbeat after which a rank is lost.
        children: the processes Lightning's launcher started from this one (rank 0 on each node), whose end is
            noticed at once; ``first_child_rank`` is the global rank of the first of them.
    """

    def __init__(self, store: Any, rank: int, world_size: int, lost_after: float = 60.0,
                 children: Sequence[subprocess.Popen] = (), first_child_rank: int = 1) -> None:
        self.store, self.rank, self.world_size, self.lost_after = store, int(rank), int(world_size), float(lost_after)
        self.children, self.first_child_rank = list(children), int(first_child_rank)
        self._beats: dict[int, tuple[int, float]] = {}  # rank -> (last counter seen, when it last changed)
        self._last_liveness_check = 0.0
        self._agreements = 0  # agreements this rank took part in (the same count on every rank)
        self._stop_beating = threading.Event()
        self._beater: threading.Thread | None = None

    @classmethod
    def single(cls) -> RankSync:
        """The protocol of a one-process fit: nothing to tell anyone."""
        return cls(None, 0, 1)

    @classmethod
    def open(cls, rank: int, world_size: int, lost_after: float = 60.0, children: Sequence[subprocess.Popen] = (),
             first_child_rank: int = 1) -> RankSync:
        """The protocol of a new fit over the default process group's store, its heartbeat started."""
        _FITS[0] += 1
        base = dist.distributed_c10d._get_default_store()  # the rendezvous store; torch has no public getter for it
        sync = cls(dist.PrefixStore(f"lit_actmax/fit{_FITS[0]}/", base), rank, world_size, lost_after, children,
                   first_child_rank)
        sync.start_heartbeat()
        return sync

    @property
    def shared(self) -> bool:
        """Whether there are other ranks to agree with."""
        return self.store is not None and self.world_size > 1

    # -- agreeing ----------------------------------------------------------------------------------------
    def agree(self, requests: Sequence[str] = ()) -> list[str]:
        """Post this rank's ``requests`` (kinds of :data:`STOP_KINDS`) and wait until every rank arrived at this
        agreement (the fit's n-th on every rank: each rank agrees once per optimizer step); return what every rank
        takes (the same list on every rank, in :data:`STOP_KINDS` order). Raises
        :class:`~lit_actmax.errors.RankFailureError` when a rank failed or was lost meanwhile."""
        if not self.shared:
            return [kind for kind in STOP_KINDS if kind in requests]
        self._agreements += 1
        n = self._agreements
        base = self.world_size + 1  # requests are counted per kind, in base world_size + 1: a sum never overflows a digit
        for kind in set(requests):
            self._call("add", f"stop/{n}", base ** STOP_KINDS.index(kind))
        self._arrive(f"step/{n}")
        asked = int(self._call("add", f"stop/{n}", 0))
        if self.rank == 0 and n > 1:  # every rank read agreement n - 1 before it arrived at this one
            for key in (f"step/{n - 1}", f"stop/{n - 1}"):
                self._call("delete_key", key)
        return [kind for i, kind in enumerate(STOP_KINDS) if (asked // base ** i) % base]

    def meet(self, name: str) -> None:
        """Wait until every rank reached the point ``name`` (a barrier that a failed or lost rank cannot hang)."""
        if self.shared:
            self._arrive(f"meet/{name}")

    def _arrive(self, key: str) -> None:
        arrived, delay = self._call("add", key, 1), 1e-4
        while arrived < self.world_size:
            self.raise_if_failed()
            time.sleep(delay)
            delay = min(2 * delay, LONGEST_POLL)
            arrived = self._call("add", key, 0)

    # -- failures ----------------------------------------------------------------------------------------
    def failure(self) -> Failure | None:
        """What a failed rank posted, or None (also when the store cannot be reached any more)."""
        if not self.shared:
            return None
        try:
            if not self.store.check(["failure"]):
                return None
            posted = json.loads(self.store.get("failure").decode("utf-8"))
        except Exception:  # noqa: BLE001 - the store's host is gone: nothing posted can be read
            return None
        return Failure(int(posted["rank"]), str(posted["sentence"]), int(posted["exit_code"]))

    def raise_if_failed(self) -> None:
        """Raise :class:`~lit_actmax.errors.RankFailureError` if a rank failed or was lost."""
        failure = self.failure()
        if failure is not None and failure.rank != self.rank:
            raise failure.error(self.world_size)
        now = time.monotonic()
        if now - self._last_liveness_check >= BEAT_EVERY:
            self._last_liveness_check = now
            lost = self.lost_ranks()
            if lost:
                raise RankFailureError(f"Rank {lost[0][0]} of {self.world_size} was lost ({lost[0][1]}), so every "
                                       "rank stops; resume from the run's last checkpoint.")

    def publish_failure(self, sentence: str, exit_code: int = EXIT_ERROR) -> None:
        """Post this rank's failure (the first one posted is the one every rank tells), then end this rank's process
        group so that a peer waiting for it in a collective gets an error now."""
        if not self.shared:
            return
        try:
            if int(self.store.add("failures", 1)) == 1:
                self.store.set("failure", json.dumps({"rank": self.rank, "sentence": sentence, "exit_code": exit_code}))
        except Exception:  # noqa: BLE001 - the store's host is gone: the peers learn from their lost connection
            pass
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    def handled(self) -> None:
        """Say that this rank stopped because of a posted failure (the failing rank waits for every peer)."""
        if self.shared:
            try:
                self.store.add("handled", 1)
            except Exception:  # noqa: BLE001 - the store's host is gone: nobody waits any more
                pass

    def wait_handled(self) -> None:
        """On the failing rank: wait until every peer stopped, or was lost, or ``lost_after`` seconds passed."""
        if not self.shared:
            return
        deadline, delay = time.monotonic() + self.lost_after, 1e-3
        while time.monotonic() < deadline:
            try:
                stopped = int(self.store.add("handled", 0))
            except Exception:  # noqa: BLE001 - the store's host is gone: nobody can read the failure any more
                return
            if stopped + len(self.lost_ranks()) >= self.world_size - 1:
                return
            time.sleep(delay)
            delay = min(2 * delay, LONGEST_POLL)

    # -- liveness ----------------------------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        """Bump this rank's heartbeat counter every :data:`BEAT_EVERY` seconds from a daemon thread."""
        if not self.shared or self._beater is not None:
            return
        self._call("add", f"beat/{self.rank}", 1)
        self._beater = threading.Thread(target=self._beat, name="lit-actmax-heartbeat", daemon=True)
        self._beater.start()

    def _beat(self) -> None:
        while not self._stop_beating.wait(BEAT_EVERY):
            try:
                self.store.add(f"beat/{self.rank}", 1)
            except Exception:  # noqa: BLE001 - the store's host is gone: this rank learns it from its own calls
                return

    def close(self) -> None:
        """Stop the heartbeat: the fit is over (after ``on_fit_end``, or after a failure was told)."""
        self._stop_beating.set()

    def lost_ranks(self) -> list[tuple[int, str]]:
        """``(rank, why)`` of every other rank that is lost: its child process ended, or its heartbeat stood still
        for ``lost_after`` seconds. Raises :class:`~lit_actmax.errors.RankFailureError` when the store cannot be
        reached (its host, rank 0 or the launcher, is gone)."""
        lost = []
        for i, child in enumerate(self.children):
            code = child.poll()
            if code is not None:
                why = f"killed by signal {-code}" if code < 0 else f"its process ended with exit code {code}"
                lost.append((self.first_child_rank + i, why))
        now = time.monotonic()
        for rank in range(self.world_size):
            if rank == self.rank:
                continue
            count = int(self._call("add", f"beat/{rank}", 0))
            seen, since = self._beats.get(rank, (-1, now))
            if count != seen:
                self._beats[rank] = (count, now)
            elif now - since > self.lost_after and all(r != rank for r, _ in lost):
                lost.append((rank, f"no sign of life for {self.lost_after:g} s"))
        return lost

    def _call(self, method: str, *args: Any) -> Any:
        """``store.<method>(*args)``; a store that cannot be reached means its host (rank 0 or the launcher) is gone."""
        try:
            return getattr(self.store, method)(*args)
        except RankFailureError:
            raise
        except Exception as error:  # noqa: BLE001 - torch raises RuntimeError/DistStoreError/DistNetworkError here
            raise RankFailureError(f"Rank {self.rank} of {self.world_size} lost contact with the others (the store of "
                                   f"their process group, hosted by rank 0 or the launcher, is gone: "
                                   f"{type(error).__name__}), so it stops; resume from the run's last checkpoint.") from None


def rank_sync_of(trainer: Any) -> RankSync:
    """The protocol of ``trainer``'s fit: its strategy's (``UnitParallelStrategy.rank_sync``), or one process's."""
    sync = getattr(getattr(trainer, "strategy", None), "rank_sync", None)
    return sync if isinstance(sync, RankSync) else RankSync.single()
