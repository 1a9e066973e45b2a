"""A view's ``Replayer`` (its rows built by a replay from zero without its handlers) gives the rows
its handlers give: on random histories of sign-ups, waitlists moving up, cancellations from either
list, signing up again, a talk revised, reminded, moved and cancelled, attendance and feedback,
compared with live processing and with a replay through the handlers. Expertise's replayer is
partial (the seat changes; its handlers take the rest in the same replay)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from commonroom.domain.errors import DomainError
from commonroom.projections.attendance import AttendanceView, SignUpRow
from commonroom.projections.base import Replayer
from commonroom.projections.expertise import EvidenceRow, ExpertiseView, SeatChangeRow, TalkVersionRow
from commonroom.projections.notifications import AudienceRow, NotificationRow, NotificationsView, TalkTitleRow
from commonroom.projections.runner import Projector
from core_given import a_peer, a_scheduled_talk, an_organizer, rows
from support import next_weekday


TABLES = (SignUpRow, NotificationRow, AudienceRow, TalkTitleRow, SeatChangeRow, TalkVersionRow, EvidenceRow)


def signups(services) -> dict[str, list[tuple]]:
    """The rows of the views with a replayer (named for the first one: the sign-ups)."""
    with services.engine.connect() as c:
        return {model.__tablename__: sorted((tuple(r) for r in c.execute(sa.select(model.__table__))), key=repr)
                for model in TABLES}


def replayed(services, monkeypatch, with_replayer: bool, batch: int, hold_rows: int = 250_000
             ) -> dict[str, list[tuple]]:
    if not with_replayer:
        for view in (AttendanceView, NotificationsView, ExpertiseView):
            monkeypatch.setattr(view, "replayer", lambda self: None)
    projector = Projector(services.projector.engine, services.store.recorder, services.store.mapper,
                          services.projector.views, rebuild_batch_size=batch)
    projector.replay(hold_rows=hold_rows)
    monkeypatch.undo()
    return signups(services)


def a_random_history(services, clock, seed: int) -> None:
    """Two talks in a room of three seats, a dozen peers signing up, cancelling (confirmed or
    waitlisted: the waitlist moves up, the gap closes) and signing up again in a random order;
    then the talks happen, and some of those who came give feedback."""
    rng = random.Random(seed)
    organizer = an_organizer(services, rooms=(("Blue room", 3),))
    talks = [a_scheduled_talk(services, organizer, days_ahead=7, title="First"),
             a_scheduled_talk(services, organizer, days_ahead=14, title="Second")]
    peers = [a_peer(services, f"Peer {i}", f"peer{i}@example.org") for i in range(12)]
    signed: dict = {talk: set() for talk in talks}
    for _ in range(70):
        talk, peer = rng.choice(talks), rng.choice(peers)
        if peer in signed[talk] and rng.random() < 0.6:
            services.talks.cancel_sign_up(talk, peer)
            signed[talk].discard(peer)
        elif peer not in signed[talk]:
            services.talks.sign_up(talk, peer)
            signed[talk].add(peer)
    services.settle()
    first, second = talks
    services.talks.revise(first, "First, {revised}", "", ["python"], by=organizer)
    services.talks.send_reminder(first)
    services.talks.schedule(first, next_weekday(9), "blue-room", by=organizer)
    services.talks.cancel(second, "Room {B} is closed {0}", by=organizer)  # (braces: not a template)
    clock.set(clock.now() + timedelta(days=20))
    for talk in [first]:
        confirmed = [r.peer_id for r in rows(services, SignUpRow, SignUpRow.talk_id == str(talk))
                     if r.status == "confirmed"]
        came = {peer: rng.random() < 0.7 for peer in peers if str(peer) in confirmed}
        services.talks.record_attendance(talk, came, by=organizer)
        for peer, there in came.items():
            if there and rng.random() < 0.6:
                try:
                    services.talks.give_feedback(talk, peer, rng.randint(1, 5), rng.choice(["", "Good", "<b>x</b>"]))
                except DomainError:  # (a rule of feedback: not what is tested here)
                    pass
    services.settle()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_replayers_give_the_rows_the_handlers_give(services, clock, monkeypatch, seed):
    # given a random history of sign-ups, projected live as it happened
    a_random_history(services, clock, seed)
    live = signups(services)
    statuses = {row[2] for row in live["signups"]}
    assert {"confirmed", "waitlisted", "cancelled"} <= statuses  # (the history reaches every case)
    assert any(row[4] is not None for row in live["signups"]) and any(row[5] is not None for row in live["signups"])
    kinds = {row[3] for row in live["notifications"]}
    assert kinds == {"promoted", "reminder", "moved", "cancelled"} and live["notification_audience"]
    assert any("Reason: Room {B} is closed {0}" in row[4] for row in live["notifications"])
    changes = {(row[3], row[4]) for row in live["talk_seat_changes"]}
    assert changes == {(1, 0), (0, 1), (1, -1), (-1, 0), (0, -1)}  # every kind of seat change
    assert live["expertise_evidence"] and len(live["talk_versions"]) > 2
    # when the views are replayed from zero, with the replayers and through the handlers, in one
    # batch and in batches of five
    assert isinstance(AttendanceView().replayer(), Replayer)
    assert isinstance(NotificationsView().replayer(), Replayer)
    assert ExpertiseView().replayer().partial
    for batch in (5000, 5):
        # then both give exactly the rows live processing built
        assert replayed(services, monkeypatch, with_replayer=True, batch=batch) == live
        assert replayed(services, monkeypatch, with_replayer=False, batch=batch) == live
    # and so do they when the handlers' rows are written out every few batches (the later
    # segments reading what they touch) while the replayers hold theirs to the end
    assert replayed(services, monkeypatch, with_replayer=True, batch=5, hold_rows=10) == live


def test_a_handler_the_replayer_does_not_know_sends_the_replay_through_the_handlers(monkeypatch):
    import functools

    from commonroom.domain.talk import Talk

    # given the attendance view with a handler added for an event its replayer does not handle
    method = AttendanceView.__dict__["handle"]
    extended = functools.singledispatch(method.dispatcher.registry[object])
    for kind, handler in method.dispatcher.registry.items():
        if kind is not object:
            extended.register(kind, handler)
    extended.register(Talk.Reminded, lambda self, event, rows: None)
    monkeypatch.setattr(method, "dispatcher", extended)
    # then a replay does not use the replayer
    assert AttendanceView().replayer() is None


def test_a_partial_replayer_needs_only_handlers_for_its_own_events(monkeypatch):
    from commonroom.domain.talk import Talk

    # given expertise's replayer, which takes the seat changes only
    replayer = ExpertiseView().replayer()
    # then it takes those events and leaves the view's others to its handlers
    assert replayer.takes(Talk.SignedUp) and replayer.takes(Talk.SignUpCancelled)
    assert not replayer.takes(Talk.Scheduled) and not replayer.takes(Talk.AttendanceRecorded)
    # and a view without a handler for one of its events does not get it
    method = ExpertiseView.__dict__["handle"]
    registry = dict(method.dispatcher.registry)
    del registry[Talk.Promoted]
    monkeypatch.setattr(method.dispatcher, "registry", registry)
    assert ExpertiseView().replayer() is None
