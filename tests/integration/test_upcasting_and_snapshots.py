"""Old events still load (Peer.Registered v1 without a timezone) and long histories load from snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID, uuid4

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent

from commonroom.domain.peer import Peer
from commonroom.domain.talk import Talk
from commonroom.platform.bootstrap import bootstrap
from commonroom.projections.people import PeerRow, PeerSkillRow
from core_given import a_scheduled_talk, an_organizer, rows

V1_EVENTS = Path(__file__).with_name("events_v1.jsonl")


def stored_v1_events() -> list[StoredEvent]:
    lines = V1_EVENTS.read_text().splitlines()
    return [StoredEvent(originator_id=UUID(r["originator_id"]), originator_version=r["originator_version"],
                        topic=r["topic"], state=r["state"].encode("utf-8")) for r in map(json.loads, lines)]


def test_the_fixture_holds_registrations_in_the_old_shape():
    registered = json.loads(stored_v1_events()[0].state)
    assert "timezone" not in registered and "class_version" not in registered
    assert Peer.Registered.class_version == 2


def test_a_peer_registered_before_timezones_existed_loads_in_utc_and_is_projected(services):
    # given events stored in the v1 format, inserted through the recorder
    events = stored_v1_events()
    services.store.recorder.insert_events(events)
    peer_id = events[0].originator_id
    # when the peer is loaded
    peer = services.store.repository.get(peer_id)
    # then the registration was upcast: the peer reads as UTC, and later events still apply
    assert isinstance(peer, Peer)
    assert (peer.name, peer.email, peer.timezone, peer.offers, peer.version) == (
        "Grace Hopper", "grace@example.org", "UTC", ["COBOL"], 2)
    # and the read model shows the same
    [row] = rows(services, PeerRow, PeerRow.id == str(peer_id))
    assert (row.name, row.timezone) == ("Grace Hopper", "UTC")
    assert [r.skill for r in rows(services, PeerSkillRow)] == ["COBOL"]
    # and the peer takes new commands, recorded in the current format
    services.people.want_skill(peer_id, "Rust", by=peer_id)
    assert services.store.repository.get(peer_id).wants == ["Rust"]


def test_a_talk_with_over_a_hundred_events_loads_from_a_snapshot_equal_to_its_replay(services):
    # given a talk whose history passes 100 events (bulk sign-ups, then commands through the service)
    organizer = an_organizer(services, rooms=(("Great hall", 500),))
    talk_id = a_scheduled_talk(services, organizer, room="great-hall")
    for _ in range(2):
        talk = services.store.repository.get(talk_id)
        for _ in range(55):
            talk.sign_up(uuid4(), now=services.clock.now(), by=organizer)
        services.store.save(talk)
    late = [uuid4() for _ in range(3)]
    for peer in late:
        services.talks.sign_up(talk_id, peer)
    services.talks.cancel_sign_up(talk_id, late[0])
    # then a snapshot was taken at version 100
    snapshots = list(services.store.snapshots.get(talk_id))
    assert [s.originator_version for s in snapshots] == [100]
    # and the snapshot equals the replay of the first hundred events
    events = list(services.store.events.get(talk_id))
    assert len(events) == 116
    at_100 = project_aggregate(None, events[:100])
    assert vars(snapshots[0].mutate(None)) == vars(at_100)
    # and a fresh process (no cache) loads the whole talk equal to replaying every event
    fresh = bootstrap(services.database_url)
    try:
        loaded = fresh.store.repository.get(talk_id)
    finally:
        fresh.close()
    replayed = project_aggregate(None, events)
    assert isinstance(loaded, Talk) and loaded.version == 116
    assert vars(loaded) == vars(replayed)
    assert len(loaded.confirmed) == 112 and late[0] not in loaded.confirmed


def test_a_snapshot_taken_from_the_talk_in_hand_equals_the_replay_of_its_events(services):
    # given a talk whose hundredth event is a sign-up saved on its own (the common case: the
    # snapshot is taken from the saved aggregate, not replayed from the store)
    organizer = an_organizer(services, rooms=(("Great hall", 500),))
    talk_id = a_scheduled_talk(services, organizer, room="great-hall")
    talk = services.store.repository.get(talk_id)
    for _ in range(95 - talk.version):
        talk.sign_up(uuid4(), now=services.clock.now(), by=organizer)
    services.store.save(talk)
    while services.store.repository.get(talk_id).version < 102:
        services.talks.sign_up(talk_id, uuid4())
    # then the snapshot at version 100 equals the replay of the first hundred events
    snapshots = list(services.store.snapshots.get(talk_id))
    assert [s.originator_version for s in snapshots] == [100]
    events = list(services.store.events.get(talk_id))
    assert vars(snapshots[0].mutate(None)) == vars(project_aggregate(None, events[:100]))
