"""The event store's own fast paths give what eventsourcing's general ones give."""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

import pytest
import sqlalchemy as sa
from eventsourcing.application import Cache, LRUCache, project_aggregate
from flask import Flask

from commonroom.domain.peer import Peer
from commonroom.platform.bootstrap import bootstrap, make_engine
from commonroom.platform.eventstore import EventRepository, EventStore, mutate_in_turn
from commonroom.platform.web import security
from core_given import a_peer, a_scheduled_talk, an_organizer


def test_the_repository_replays_without_the_protocol_check_and_gets_the_same_aggregate(services):
    organizer = an_organizer(services)
    talk_id = a_scheduled_talk(services, organizer)
    for _ in range(3):
        services.talks.sign_up(talk_id, uuid4())
    events = list(services.store.events.get(talk_id))
    assert isinstance(services.store.repository, EventRepository)
    assert vars(mutate_in_turn(None, events)) == vars(project_aggregate(None, events))
    # a process with nothing cached loads it the same way
    fresh = bootstrap(services.database_url)
    try:
        assert vars(fresh.store.repository.get(talk_id)) == vars(project_aggregate(None, events))
    finally:
        fresh.close()


@pytest.mark.parametrize("setting, cache", [("", type(None)), ("0", Cache), ("5", LRUCache)])
def test_the_repository_keeps_the_cache_setting(tmp_path, setting, cache):
    store = EventStore(f"sqlite:///{tmp_path}/e.sqlite3", extra_env={"AGGREGATE_CACHE_MAXSIZE": setting})
    try:
        assert type(store.repository.cache) is cache
        if cache is LRUCache:
            assert store.repository.cache.maxsize == 5
        assert store.repository.fastforward and store.repository.deepcopy_from_cache
    finally:
        store.close()


def test_save_collects_every_aggregate_and_skips_none(services):
    ids = uuid4(), uuid4()
    first, second = (Peer(id=i, name=n, email=f"{n}@example.org", department="Audit", timezone="UTC",
                          password_hash="-", by=i) for i, n in zip(ids, ("ada", "grace")))
    recordings = services.store.save(first, None, second)
    assert [r.domain_event.originator_id for r in recordings] == [first.id, second.id]
    assert not first.pending_events and not second.pending_events
    assert services.store.repository.get(second.id).name == "grace"


@pytest.mark.parametrize("as_organizer", [False, True])
def test_the_signed_in_peer_is_read_through_the_driver_with_its_types(services, as_organizer):
    peer_id = an_organizer(services) if as_organizer else a_peer(services, email="ada@example.org")
    services.settle()
    flask_app = Flask(__name__)
    flask_app.extensions["commonroom"] = services
    with flask_app.app_context():
        peer = security.load_peer(peer_id)
        assert peer is not None and peer.id == peer_id and peer.is_organizer is as_organizer
        assert security.load_peer(str(peer_id)) == peer
        assert security.load_peer(uuid4()) is None
        services.settle(services.people.deactivate(peer_id, by=peer_id))
        assert security.load_peer(peer_id) is None


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/nowhere", "sqlite:///{tmp}/empty.sqlite3"])
def test_the_signed_in_peer_read_fails_as_sqlalchemy_fails_so_the_app_answers_503(tmp_path, url):
    # a server that is not there, or a database without the view: SQLAlchemy's DBAPIError (which
    # the app turns into a 503 with Retry-After), not the driver's own exception (a 500)
    engine = make_engine(url.format(tmp=tmp_path))
    flask_app = Flask(__name__)
    flask_app.extensions["commonroom"] = SimpleNamespace(engine=engine)
    try:
        with flask_app.app_context(), pytest.raises(sa.exc.DBAPIError):
            security.load_peer(uuid4())
    finally:
        engine.dispose()
