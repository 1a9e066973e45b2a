"""A group's events written to SQLite by one statement (``platform.sqlitewriter``): the notification
ids it returns are the log's, a conflict writes nothing of the group, the connection syncs every
commit, and a group too large for one statement still goes through eventsourcing's recorder."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError, RecordConflictError

from commonroom.platform.bootstrap import bootstrap
from commonroom.platform.sqlitewriter import MAX_EVENTS
from test_group_commit import a_new_peer


@pytest.fixture
def store(sqlite_url, clock):
    app = bootstrap(sqlite_url, clock=clock)
    yield app.store
    app.close()


def encoded(store, *aggregates) -> list:
    return [(event, store.mapper.to_stored_event(event)) for a in aggregates for event in a.collect_events()]


def test_the_ids_of_a_group_are_the_notification_ids_in_the_log(store):
    store.save(a_new_peer("Before"))  # the log does not start empty
    peers = [a_new_peer(f"Peer{i}") for i in range(5)]
    for peer in peers:
        peer.offer_skill("Python", by=peer.id)  # two events each
    recordings = store.write_encoded(encoded(store, *peers))
    ids = [r.notification.id for r in recordings]
    logged = store.recorder.select_notifications(start=ids[0], limit=20)
    assert [n.id for n in logged] == ids and len(ids) == 10
    assert [(n.originator_id, n.originator_version) for n in logged] == [
        (r.domain_event.originator_id, r.domain_event.originator_version) for r in recordings]


def test_a_conflicting_group_writes_nothing_and_is_a_record_conflict(store):
    taken = a_new_peer("Taken")
    store.save(taken)
    again = store.repository.get(taken.id)
    again.offer_skill("Go", by=again.id)
    rival = store.repository.get(taken.id)
    rival.offer_skill("Rust", by=rival.id)
    store.save(again)  # version 2 is now taken
    head = store.max_notification_id()
    with pytest.raises(RecordConflictError) as raised:
        store.group_writer.insert([s for _, s in encoded(store, a_new_peer("Fresh"), rival)])
    assert isinstance(raised.value, IntegrityError)
    assert store.max_notification_id() == head  # the fresh peer of the same statement was not written


def test_the_writers_connection_syncs_every_commit(store):
    store.save(a_new_peer("Ada"))
    connection = store.group_writer._connect()
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_group_too_large_for_one_statement_goes_through_the_recorder(store):
    peers = [a_new_peer(f"Peer{i}") for i in range(MAX_EVENTS // 2 + 1)]
    for peer in peers:
        peer.offer_skill("SQL", by=peer.id)
    calls = []
    insert = store.recorder.insert_events
    store.recorder.insert_events = lambda events, **kw: calls.append(len(events)) or insert(events, **kw)
    recordings = store.write_encoded(encoded(store, *peers))
    assert calls == [len(peers) * 2] and len(recordings) == len(peers) * 2
    assert {store.repository.get(p.id).version for p in peers} == {2}


def test_the_views_file_does_not_overwrite_the_pages_it_frees(sqlite_url):
    # (Debian's SQLite overwrites every freed page with zeros by default: dropping a rebuild's
    # swapped-out tables wrote them all again; the events file, where nothing is deleted, keeps it)
    services = bootstrap(sqlite_url)
    try:
        for engine in (services.projector.engine, services.projector.read_engine):
            with engine.connect() as c:
                assert c.exec_driver_sql("PRAGMA secure_delete").scalar() == 2  # FAST
                assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        services.close()
