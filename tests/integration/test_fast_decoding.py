"""The event store's own reading and decoding (``EventStore.read_events``, ``FastMapper``) gives the
very events eventsourcing's recorder and stock ``Mapper`` give: the same ids, classes and
attributes, old events upcast, and a state that does not decode reported the same way."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from uuid import uuid4

from commonroom.platform.eventstore import FastMapper
from core_given import a_peer, a_scheduled_talk, an_organizer
from test_upcasting_and_snapshots import stored_v1_events


def stock(services, start: int = 1, limit: int = 10_000) -> list[tuple[int, type, dict]]:
    """What eventsourcing itself reads: the recorder's notifications through a stock Mapper."""
    mapper = Mapper(transcoder=services.store.mapper.transcoder)
    return [(n.id, type(e), vars(e)) for n in services.store.recorder.select_notifications(start=start, limit=limit)
            for e in [mapper.to_domain_event(n)]]


def ours(services, start: int = 1, limit: int = 10_000) -> list[tuple[int, type, dict]]:
    return [(i, type(e), vars(e)) for i, e in services.store.read_events(start, limit)]


def a_history(services) -> None:
    """Old events (Peer v1, upcast on reading), a talk with sign-ups, a waitlist and a cancel."""
    services.store.recorder.insert_events(stored_v1_events())
    organizer = an_organizer(services, rooms=(("Blue room", 2),))
    talk_id = a_scheduled_talk(services, organizer)
    peers = [a_peer(services, f"Peer {i}", f"peer{i}@example.org") for i in range(4)]
    for peer in peers:
        services.talks.sign_up(talk_id, peer)
    services.talks.cancel_sign_up(talk_id, peers[0], by=peers[0])


def test_the_store_uses_the_fast_mapper(services):
    assert isinstance(services.store.mapper, FastMapper) and services.store.mapper.fast


def test_read_events_gives_what_the_recorder_and_the_stock_mapper_give(services):
    # given a history with events of many kinds, old ones among them
    a_history(services)
    # when the store reads it, whole and in pages
    whole = ours(services)
    pages = ours(services, 1, 7) + ours(services, 8, 7) + ours(services, 15, 10_000)
    # then it holds the same events as eventsourcing reads, attribute for attribute
    expected = stock(services)
    assert len(expected) > 20
    assert whole == expected and pages == expected
    assert ours(services, 5, 3) == stock(services, 5, 3)
    # and the old registration was upcast on the way (v1 had no timezone)
    [registered] = [attributes for _, cls, attributes in whole if cls.__qualname__ == "Peer.Registered"
                    and attributes["name"] == "Grace Hopper"]
    assert registered["timezone"] == "UTC"


def test_a_state_that_does_not_decode_is_reported_as_the_stock_mapper_reports_it(services):
    # given an event whose stored state is not JSON
    broken = StoredEvent(originator_id=uuid4(), originator_version=1,
                         topic="commonroom.domain.peer:Peer.Registered", state=b"{not json")
    services.store.recorder.insert_events([broken])
    # when it is read, then both ways fail alike, naming the event
    with pytest.raises(MapperDeserialisationError) as stock_error:
        stock(services)
    with pytest.raises(MapperDeserialisationError) as our_error:
        ours(services)
    assert str(our_error.value) == str(stock_error.value)
    assert "Peer.Registered" in str(our_error.value) and str(broken.originator_id) in str(our_error.value)


def test_a_state_with_whitespace_around_it_decodes_as_json_would(services):
    # given an event stored with whitespace around its JSON (not how we write, but valid JSON)
    peer_id = uuid4()
    a_peer(services)
    [(_, _, attributes)] = stock(services, 1, 1)
    state = services.store.mapper.transcoder.encode({k: v for k, v in attributes.items()
                                                      if k not in ("originator_id", "originator_version")})
    services.store.recorder.insert_events([StoredEvent(
        originator_id=peer_id, originator_version=1, topic="commonroom.domain.peer:Peer.Registered",
        state=b" \n" + state + b"\n ")])
    # then it is read whole, as the stock mapper reads it
    assert ours(services)[-1] == stock(services)[-1]
    assert ours(services)[-1][2]["originator_id"] == peer_id


UUID_HEX = "f0adde5ee2884eabbe73bb2f6aebe596"
STATES = {
    "a sign-up as we write it": (
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-05T07:14:41.669632+00:00"},'
        b'"peer_id":{"_type_":"uuid_hex","_data_":"' + UUID_HEX.encode() + b'"},'
        b'"by":{"_type_":"uuid_hex","_data_":"' + UUID_HEX.encode() + b'"}}'),
    "transcoded values inside lists and objects": (
        b'{"ids":[{"_type_":"uuid_hex","_data_":"' + UUID_HEX.encode() + b'"},[{"_type_":"date_iso","_data_":"2026-12-05"}]],'
        b'"inner":{"when":{"_type_":"datetime_iso","_data_":"2026-12-05T12:00:00+01:00"},"n":1,"f":2.5,"no":null}}'),
    "objects that only look transcoded": (
        b'{"three":{"_type_":"uuid_hex","_data_":"x","more":1},"one":{"_type_":"uuid_hex"},"empty":{}}'),
    "text beyond ASCII, escaped and not": '{"s":"café \\u00e9 \\ud83d\\ude00 ☕"}'.encode(),
    "integers beyond 64 bits (orjson reads them as floats)": (
        b'{"big":123456789012345678901234567890,"in":[18446744073709551616],"low":-9223372036854775809,'
        b'"edges":[18446744073709551615,-9223372036854775808]}'),
    "a whole state beyond 64 bits": b'123456789012345678901234567890',
    "large and small floats": b'{"f":[1e300,-1e300,1.5e-300,0.1,1e19]}',
    "NaN and Infinity (json takes them)": b'{"x":NaN,"y":-Infinity}',
    "a lone surrogate escape (json takes it)": b'{"s":"\\ud800"}',
    "a key given twice (the last one counts)": b'{"k":1,"k":2}',
    "an unknown transcoding": b'{"a":{"_type_":"no_such_type","_data_":1}}',
    "a bad value for a transcoding": b'{"a":{"_type_":"datetime_iso","_data_":"yesterday"}}',
    "a list, not an object": b'[1,2]',
    "not UTF-8": b'{"s":"\xff"}',
}


def outcome(mapper, stored: StoredEvent):
    try:
        event = mapper.to_domain_event(stored)
    except Exception as error:  # compared below: both mappers must fail alike
        return type(error), str(error)
    return type(event), repr(sorted(vars(event).items()))


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_orjson_and_the_transcodings_decode_as_eventsourcings_json_decoder_does(services, state):
    # given a state as it may be stored (some of them are not how we write, but valid JSON or not)
    stored = StoredEvent(originator_id=uuid4(), originator_version=1,
                         topic="commonroom.domain.talk:Talk.SignedUp", state=state)
    transcoder = services.store.mapper.transcoder
    # then our mapper gives what eventsourcing's stock mapper gives, or fails as it fails
    ours_, theirs = outcome(FastMapper(transcoder=transcoder), stored), outcome(Mapper(transcoder=transcoder), stored)
    assert ours_ == theirs


def test_a_transcoding_registered_after_the_mapper_was_made_is_the_one_used(services):
    # given our mapper, made with the store's transcodings, and then another "uuid_hex" registered
    from eventsourcing.persistence import JSONTranscoder, Transcoding, UUIDAsHex

    class Tagged(Transcoding):
        type, name = UUIDAsHex.type, "uuid_hex"

        def encode(self, obj):
            return obj.hex

        def decode(self, data):
            return f"tagged {data}"

    transcoder = JSONTranscoder()
    for transcoding in services.store.mapper.transcoder.names.values():
        transcoder.register(transcoding)
    ours_mapper = FastMapper(transcoder=transcoder)
    transcoder.register(Tagged())
    stored = StoredEvent(originator_id=uuid4(), originator_version=1, topic="commonroom.domain.talk:Talk.SignedUp",
                         state=STATES["a sign-up as we write it"])
    # then it decodes as the stock mapper does with the transcodings as they are now
    assert outcome(ours_mapper, stored) == outcome(Mapper(transcoder=transcoder), stored)
    assert vars(ours_mapper.to_domain_event(stored))["peer_id"] == f"tagged {UUID_HEX}"
