"""Group commit: saves made at the same moment share one transaction, each keeps its own outcome.

The groups are made deterministic by holding the first leader's write until the other threads
have queued (a gate around the real ``put``), never by timing.
"""

from __future__ import annotations

import threading
import time
from copy import deepcopy
from uuid import uuid4

import pytest
from eventsourcing.persistence import RecordConflictError

from commonroom.domain.peer import Peer
from commonroom.platform.eventstore import REQUEST_ID
from commonroom.platform.groupcommit import GroupCommitter


def a_new_peer(name: str) -> Peer:
    peer_id = uuid4()
    return Peer(id=peer_id, name=name, email=f"{name.lower()}@example.org", department="Audit",
                timezone="UTC", password_hash="", by=peer_id)


class Gate:
    """Wraps the store's real ``put``: the first call waits until ``open()``; every call is logged."""

    def __init__(self, put) -> None:
        self.put, self.calls = put, []
        self.first = threading.Event()
        self.opened = threading.Event()

    def __call__(self, events):
        self.calls.append(len(events))
        if len(self.calls) == 1:
            self.first.set()
            self.opened.wait(10)
        return self.put(events)


def saving_threads(store, aggregates, request_ids=None) -> tuple[list, dict]:
    outcomes: dict[int, object] = {}

    def save(i, aggregate):
        token = REQUEST_ID.set(request_ids[i]) if request_ids else None
        try:
            outcomes[i] = store.save(aggregate)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcomes[i] = error
        finally:
            if token is not None:
                REQUEST_ID.reset(token)

    return [threading.Thread(target=save, args=(i, a)) for i, a in enumerate(aggregates)], outcomes


def queued(committer: GroupCommitter, n: int) -> bool:
    with committer._cond:
        return len(committer._queue) >= n


def wait_until(condition, timeout: float = 10) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError("condition not reached")


def one_then_the_rest_together(store, gate: Gate, threads) -> None:
    """The first thread's save is being written while the others queue up; then let it finish."""
    threads[0].start()
    assert gate.first.wait(10)
    for t in threads[1:]:
        t.start()
    wait_until(lambda: queued(store.group_commit, len(threads) - 1))
    gate.opened.set()
    for t in threads:
        t.join(10)


@pytest.fixture
def gated(services):
    store = services.store
    gate = Gate(store.write_encoded)
    store.group_commit = GroupCommitter(gate)
    return store, gate


def test_saves_queued_behind_a_write_go_to_the_database_in_one_transaction(gated):
    store, gate = gated
    peers = [a_new_peer(f"Peer{i}") for i in range(5)]
    threads, outcomes = saving_threads(store, peers, request_ids=[f"req-{i}" for i in range(5)])
    # given one save being written and four more arriving meanwhile, when the first finishes
    one_then_the_rest_together(store, gate, threads)
    # then the four were written together, in one call of the store's put
    assert gate.calls == [1, 4]
    stats = store.group_commit.stats.as_dict()
    assert {k: stats[k] for k in ("transactions", "saves", "retried_alone", "largest_group", "lock_turns")} == {
        "transactions": 2, "saves": 5, "retried_alone": 0, "largest_group": 4, "lock_turns": 2}
    # and each save got the recordings of its own events, with their notification ids
    for i, peer in enumerate(peers):
        recordings = outcomes[i]
        assert [r.domain_event.originator_id for r in recordings] == [peer.id]
        stored = store.recorder.select_notifications(start=recordings[0].notification.id, limit=1)[0]
        assert stored.originator_id == peer.id
    # and every event keeps the request id of the thread that saved it, not the leader's
    for i, peer in enumerate(peers):
        event = next(iter(store.events.get(peer.id)))
        assert event.request_id == f"req-{i}"
    # and the aggregates load as saved
    assert {store.repository.get(p.id).name for p in peers} == {f"Peer{i}" for i in range(5)}


def test_a_conflict_in_a_group_fails_only_the_save_that_conflicts(gated):
    store, gate = gated
    first, stale_source = a_new_peer("First"), a_new_peer("Stale")
    gate.opened.set()
    store.save(stale_source)  # version 1 stored
    gate.calls.clear()
    gate.opened.clear()
    gate.first.clear()
    # a stale copy that will try to write version 2 after another save already wrote it
    stale = deepcopy(store.repository.get(stale_source.id))
    winner = store.repository.get(stale_source.id)
    winner.change_profile("Winner", winner.email, winner.department, winner.timezone, by=winner.id)
    stale.change_profile("Loser", stale.email, stale.department, stale.timezone, by=stale.id)
    others = [a_new_peer(f"Other{i}") for i in range(3)]
    threads, outcomes = saving_threads(store, [first, winner, stale, *others])
    one_then_the_rest_together(store, gate, threads)
    # then the group's shared transaction failed as a whole, and each save was written on its own
    assert gate.calls[:2] == [1, 5]
    errors = [i for i, outcome in outcomes.items() if isinstance(outcome, Exception)]
    assert len(errors) == 1 and isinstance(outcomes[errors[0]], RecordConflictError)
    # exactly one of the two writers of version 2 won, and everyone else was saved
    assert store.repository.get(stale_source.id).name in ("Winner", "Loser")
    for peer in [first, *others]:
        assert store.repository.get(peer.id).version == 1
    assert store.group_commit.stats.retried_alone == 5


def test_an_idle_store_writes_a_save_at_once_in_its_own_transaction(services):
    # no waiting for company: the first save is the leader and writes straight away
    store = services.store
    before = store.group_commit.stats.transactions
    store.save(a_new_peer("Alone"))
    assert store.group_commit.stats.transactions == before + 1


def test_on_sqlite_a_save_waits_while_another_process_holds_the_write_lock(services):
    # given a SQLite store (PostgreSQL has its own row and WAL locks: no file lock there)
    store = services.store
    if not services.database_url.startswith("sqlite"):
        assert store.write_lock is None
        return
    # and another process holding the lock file beside the database
    import subprocess
    import sys
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
                               "print('held', flush=True); sys.stdin.readline()", store.write_lock.path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        # when this process saves
        threads, outcomes = saving_threads(store, [a_new_peer("Waiting")])
        threads[0].start()
        threads[0].join(0.5)
        # then the save waits for the lock
        assert threads[0].is_alive() and not outcomes
        # and is written as soon as the other process lets go
        holder.stdin.write("\n")
        holder.stdin.flush()
        threads[0].join(10)
        assert not threads[0].is_alive() and not isinstance(outcomes[0], Exception)
    finally:
        holder.kill()
        holder.communicate()


def test_the_write_lock_excludes_a_forked_child(tmp_path):
    # a descriptor inherited across fork shares its open file, and so its flock, with the parent:
    # a gunicorn worker forked after the store opened it must not write alongside its parent
    import fcntl
    import os
    from commonroom.platform.eventstore import FileWriteLock
    lock = FileWriteLock(str(tmp_path / "x.write.lock"))
    fcntl.flock(lock._descriptor(), fcntl.LOCK_EX)  # the parent holds it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child tries to take it without waiting
        try:
            fcntl.flock(lock._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(write, b"taken")
        except BlockingIOError:
            os.write(write, b"kept")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 5) == b"kept"
    os.close(read)
    os.close(write)
    lock.close()


def test_saves_arriving_while_the_leader_waits_for_the_other_process_join_its_group(services):
    # given a store whose writes take a lock that another process holds for now
    store = services.store
    other_process = threading.Lock()
    other_process.acquire()
    calls = []

    def put(events):
        calls.append(len(events))
        return store.write_encoded(events)
    store.group_commit = GroupCommitter(put, lock=other_process)
    peers = [a_new_peer(f"Peer{i}") for i in range(4)]
    threads, outcomes = saving_threads(store, peers)
    # when one save leads (and waits for the lock) and three more queue behind it
    threads[0].start()
    wait_until(lambda: store.group_commit._writing)
    for t in threads[1:]:
        t.start()
    wait_until(lambda: queued(store.group_commit, 4))
    other_process.release()
    for t in threads:
        t.join(10)
    # then all four are written in the one transaction the leader makes once it has the lock
    assert calls == [4]
    assert all(not isinstance(o, Exception) for o in outcomes.values()) and len(outcomes) == 4


def test_the_leader_reports_how_long_it_waited_for_the_write_lock_and_held_it(services):
    # given a store whose writes take a lock that another process holds for 0.2 s after a save asks
    store = services.store
    other_process = threading.Lock()
    other_process.acquire()
    store.group_commit = GroupCommitter(store.write_encoded, lock=other_process)
    threads, outcomes = saving_threads(store, [a_new_peer("Waiting")])
    threads[0].start()
    wait_until(lambda: store.group_commit._writing)
    time.sleep(0.2)
    other_process.release()
    threads[0].join(10)
    # then the save went through once the lock was free
    assert not threads[0].is_alive() and not isinstance(outcomes[0], Exception) and outcomes[0]
    # and its one turn is counted, the wait covers the 0.2 s, and the hold is a real duration
    stats = store.group_commit.stats
    assert stats.turns == 1 and stats.saves == 1
    assert stats.lock_waited >= 0.15
    assert stats.lock_held > 0
    shown = stats.as_dict()
    assert shown["lock_wait_ms_per_turn"] == round(stats.lock_waited * 1000, 3)
    assert shown["lock_held_ms_per_turn"] == round(stats.lock_held * 1000, 3)


def test_the_write_lock_excludes_another_thread_of_the_same_process(tmp_path):
    # an flock belongs to the open file: without a lock of their own, a second thread (a snapshot
    # being written beside a group) would take it at once and release the first one's with it
    from commonroom.platform.eventstore import FileWriteLock
    lock = FileWriteLock(str(tmp_path / "x.write.lock"))
    entered = threading.Event()

    def second() -> None:
        with lock:
            entered.set()
    with lock:
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.3)
    assert entered.wait(5)
    thread.join(5)
    lock.close()
