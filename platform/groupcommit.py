"""Group commit: saves made at the same time by one process's threads share one transaction.

Every acknowledged event must survive a power cut, so each commit waits for the disk (SQLite
``synchronous=FULL``: an fsync; PostgreSQL: the WAL flush). One fsync per sign-up caps a process
at a few hundred commands a second whatever the CPU could do. Here the first thread to save
becomes the leader and writes at once (no added latency when it is alone); threads that save while
a write is in flight queue up, and the next leader writes all of their events in one transaction,
so one fsync acknowledges many commands.

Each save keeps its own outcome. If the shared transaction fails (an optimistic-concurrency
conflict with another process, say), nothing of it was written, and every save in it is written
again on its own, so only the one that really conflicts gets ``RecordConflictError`` and goes
back to its command's retry loop. Aggregates of one batch never overlap within the process:
each command holds its aggregates' in-process locks until its save returns.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager, nullcontext
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
class _Save:
    events: Sequence[Any]
    recordings: list | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class GroupStats:
    transactions: int = 0
    saves: int = 0
    retried_alone: int = 0  # saves written again on their own after their group's transaction failed
    largest: int = 0
    # The write lock, per turn a leader takes it: how long it waited (another process writing) and
    # how long it held it (what the other process's writes wait for). Under load the hold is mostly
    # not the database's own time: the leader wins Python's GIL back from this process's request
    # threads after taking the lock and after the INSERT, with the lock held.
    turns: int = 0
    lock_waited: float = 0.0
    lock_held: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        per_turn = 1000 / self.turns if self.turns else 0.0
        return {"transactions": self.transactions, "saves": self.saves,
                "retried_alone": self.retried_alone, "largest_group": self.largest, "lock_turns": self.turns,
                "lock_wait_ms_per_turn": round(self.lock_waited * per_turn, 3),
                "lock_held_ms_per_turn": round(self.lock_held * per_turn, 3)}


class GroupCommitter:
    """``record(events)`` -> recordings, as ``put(events)`` would return them, written together
    with whatever other threads are saving at the same moment."""

    def __init__(self, put: Callable[[Sequence[Any]], list], max_group: int = 64,
                 lock: AbstractContextManager | None = None) -> None:
        self._put = put
        self.max_group = max_group
        # Held by the leader around taking its group and writing it: a lock other processes write
        # under too (SQLite's file). Taken BEFORE the group, so the saves that arrive while the
        # leader waits for another process join this group instead of the next one.
        self._lock = lock if lock is not None else nullcontext()
        self._cond = threading.Condition()
        self._queue: list[_Save] = []
        self._writing = False
        self.stats = GroupStats()

    def record(self, events: Sequence[Any]) -> list:
        mine = _Save(events)
        with self._cond:
            self._queue.append(mine)
            while self._writing and not mine.done:
                self._cond.wait()
            leading = not mine.done
            if leading:
                self._writing = True  # this thread leads the next group(s)
        if leading:
            try:
                asked = time.perf_counter()
                with self._lock:
                    taken = time.perf_counter()
                    while not mine.done:  # (more than max_group queued: the leader's may come later)
                        with self._cond:
                            group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
                        self._write(group)
                    self._timed(taken - asked, time.perf_counter() - taken)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.recordings or []

    def _write(self, group: list[_Save]) -> None:
        try:
            if len(group) > 1:
                try:
                    recordings = self._put([event for save in group for event in save.events])
                except Exception:
                    self.stats.retried_alone += len(group)
                else:
                    start = 0
                    for save in group:
                        save.recordings = recordings[start:start + len(save.events)]
                        start += len(save.events)
                    self._count(group, transactions=1)
                    return
            for save in group:
                try:
                    save.recordings = self._put(save.events)
                except BaseException as error:  # noqa: BLE001 - handed to the saving thread
                    save.error = error
            self._count(group, transactions=len(group))
        finally:
            for save in group:
                if save.recordings is None and save.error is None:
                    save.error = RuntimeError("the group commit was interrupted")
                save.done = True

    def _timed(self, waited: float, held: float) -> None:
        # only the leader of the moment writes the stats (one per process at a time)
        self.stats.turns += 1
        self.stats.lock_waited += waited
        self.stats.lock_held += held

    def _count(self, group: list[_Save], transactions: int) -> None:
        self.stats.transactions += transactions
        self.stats.saves += len(group)
        self.stats.largest = max(self.stats.largest, len(group))
