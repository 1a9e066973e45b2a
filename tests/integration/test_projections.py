"""The projector: exactly once under racing runners, all-or-nothing batches, rebuild equals live."""

from __future__ import annotations

import multiprocessing
from datetime import time, timedelta
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from eventsourcing.domain import CanMutateAggregate

from commonroom.domain.lunchday import LunchDay
from commonroom.domain.peer import EmailClaim, Peer
from commonroom.domain.programme import Programme
from commonroom.domain.talk import Talk
from commonroom.platform.bootstrap import make_engine, views_url
from commonroom.projections.attendance import AttendanceView, SignUpRow
from commonroom.projections.base import Tracking
from commonroom.projections.notifications import NotificationsView
from commonroom.projections.people import PeopleView, PeerRow
from commonroom.projections.runner import Projector
from commonroom.projections.schedule import ScheduleView, TalkRow
from support import next_weekday
from core_given import PASSWORD, a_peer, a_scheduled_talk, all_at_once, an_organizer, rows, weekday_after

CORE_AGGREGATES = (Peer, EmailClaim, Programme, LunchDay, Talk)


def core_views() -> list:
    return [PeopleView(), ScheduleView(), AttendanceView(), NotificationsView()]


def a_busy_talk(services, sign_ups: int = 40) -> tuple[UUID, list[UUID]]:
    """A talk for five with ``sign_ups`` people signed up and every third of them cancelled,
    none of it projected yet."""
    organizer = an_organizer(services, rooms=(("Blue room", 5),))
    talk_id = a_scheduled_talk(services, organizer)
    peers = [uuid4() for _ in range(sign_ups)]
    for i, peer in enumerate(peers):
        services.talks.sign_up(talk_id, peer)
        if i % 3 == 2:
            services.talks.cancel_sign_up(talk_id, peers[i - 1])
    return talk_id, peers


def assert_views_match_the_talk(services, talk_id: UUID) -> None:
    """The schedule and attendance rows as they stand (not settled first) agree with the aggregate."""
    talk = services.store.repository.get(talk_id)
    [row] = rows(services, TalkRow, TalkRow.id == str(talk_id), settle=False)
    assert (row.confirmed, row.waitlisted) == (len(talk.confirmed), len(talk.waitlist))
    signups = rows(services, SignUpRow, SignUpRow.talk_id == str(talk_id), settle=False)
    assert sorted(r.peer_id for r in signups if r.status == "confirmed") == sorted(map(str, talk.confirmed))
    waiting = sorted((r.position, r.peer_id) for r in signups if r.status == "waitlisted")
    assert waiting == [(i + 1, str(p)) for i, p in enumerate(talk.waitlist)]


def a_projector(services, batch_size: int, views=None) -> Projector:
    engine = make_engine(views_url(services.database_url), immediate=True)
    return Projector(engine, services.store.recorder, services.store.mapper, views or core_views(),
                     batch_size=batch_size)


def test_two_projectors_racing_in_threads_apply_every_event_once(services):
    # given a history nobody has projected
    talk_id, _ = a_busy_talk(services)
    racers = [a_projector(services, batch_size=7) for _ in range(2)]
    # when two projectors catch up at the same time in small batches
    errors = all_at_once([projector.catch_up for projector in racers])
    # then no event was applied twice: the counters and waitlist positions equal the aggregate
    assert errors == []
    head = services.store.max_notification_id()
    assert all(position == head for position in racers[0].positions().values())
    for projector in racers:
        projector.engine.dispose()
    assert_views_match_the_talk(services, talk_id)


def catch_up_in_another_process(database_url: str, barrier, results) -> None:
    from commonroom.platform.bootstrap import bootstrap

    try:
        app = bootstrap(database_url, batch_size=5)
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        barrier.abort()
        results.put(repr(error))
        return
    try:
        barrier.wait(timeout=60)
        results.put(app.projector.catch_up())
    except Exception as error:  # noqa: BLE001
        results.put(repr(error))
    finally:
        app.close()


@pytest.mark.postgres
def test_two_processes_catching_up_at_once_apply_every_event_once(pg_url, clock):
    from commonroom.platform.bootstrap import bootstrap

    services = bootstrap(pg_url, clock=clock)
    try:
        talk_id, _ = a_busy_talk(services)
        head, projected = services.store.max_notification_id(), min(services.projector.positions().values())
        spawn = multiprocessing.get_context("spawn")
        barrier, results = spawn.Barrier(2), spawn.Queue()
        processes = [spawn.Process(target=catch_up_in_another_process, args=(pg_url, barrier, results))
                     for _ in range(2)]
        for process in processes:
            process.start()
        read = [results.get(timeout=90) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        assert all(isinstance(n, int) for n in read), read
        assert sum(read) >= head - projected  # between them they read the rest of the log
        assert {services.projector.positions()[v.name] for v in core_views()} == {head}
        assert_views_match_the_talk(services, talk_id)
    finally:
        services.close()


class BrittleSchedule(ScheduleView):
    """The schedule view with a handler that fails on one chosen event (a bug, or a lost database)."""

    def __init__(self, fail_on: tuple[UUID, int] | None) -> None:
        self.fail_on = fail_on

    def handle(self, event, s) -> None:
        if (event.originator_id, event.originator_version) == self.fail_on:
            raise RuntimeError("the handler failed half way through the batch")
        super().handle(event, s)


def table_counts(services, tables) -> dict[str, int]:
    with services.engine.connect() as c:
        return {t.__tablename__: c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in tables}


def test_a_failure_inside_a_batch_writes_nothing_of_it_and_the_next_run_completes_it(services):
    # given a history projected up to a point, then more events
    organizer = an_organizer(services, rooms=(("Blue room", 2),))
    settled = services.store.max_notification_id()
    talk_id = a_scheduled_talk(services, organizer)
    for _ in range(4):
        services.talks.sign_up(talk_id, uuid4())
    waitlisted = [e for e in services.store.events.get(talk_id) if isinstance(e, Talk.Waitlisted)]
    brittle = BrittleSchedule(fail_on=(talk_id, waitlisted[0].originator_version))
    views = [PeopleView(), brittle, AttendanceView(), NotificationsView()]
    projector = a_projector(services, batch_size=1000, views=views)
    tables = [t for view in views for t in view.tables]
    before = table_counts(services, tables)
    # when a handler fails on one event in the middle of the batch
    with pytest.raises(RuntimeError, match="half way"):
        projector.catch_up()
    # then nothing of the batch was written, in any view, and no tracking position moved
    assert table_counts(services, tables) == before
    assert set(projector.positions().values()) == {settled}
    # and once the handler is fixed the next run applies the whole batch
    brittle.fail_on = None
    projector.catch_up()
    assert set(projector.positions().values()) == {services.store.max_notification_id()}
    projector.engine.dispose()
    assert_views_match_the_talk(services, talk_id)


def snapshot_of_every_table(services) -> dict[str, list]:
    """Every row of the core views' tables (and their tracking positions), sorted."""
    names = {v.name for v in core_views()}
    tables = [t for view in services.projector.views if view.name in names for t in view.tables]
    with services.engine.connect() as c:
        snapshot = {t.__tablename__: sorted((tuple(r) for r in c.execute(sa.select(t))), key=repr) for t in tables}
        snapshot["projection_tracking"] = sorted(c.execute(
            sa.select(Tracking.name, Tracking.position).where(Tracking.name.in_(names))).all())
    return snapshot


def core_event_names() -> set[str]:
    return {f"{cls.__name__}.{name}" for cls in CORE_AGGREGATES for name, value in vars(cls).items()
            if isinstance(value, type) and issubclass(value, CanMutateAggregate)
            and name not in ("Event", "Created")}


def a_history_with_every_event(services, clock) -> None:
    organizer = an_organizer(services, rooms=(("Blue room", 1), ("Great hall", 50)))
    day_off = next_weekday(21)
    services.programme.change(lambda p: (
        p.change_lunch(time(12, 15), 45, by=organizer),
        p.change_room_capacity("great-hall", 40, by=organizer),
        p.add_room("Attic", 3, by=organizer), p.remove_room("attic", by=organizer),
        p.add_day_off(day_off, "Away day", by=organizer), p.add_day_off(weekday_after(day_off), "", by=organizer),
        p.remove_day_off(day_off, by=organizer)), by=organizer)
    services.settle()
    ada, bob = a_peer(services, "Ada Lovelace"), a_peer(services, "Bob Builder")
    services.people.offer_skill(ada, "Python", by=ada)
    services.people.offer_skill(ada, "Cobol", by=ada)
    services.people.withdraw_skill(ada, "Cobol", by=ada)
    services.people.want_skill(ada, "Rust", by=ada)
    services.people.want_skill(ada, "Perl", by=ada)
    services.people.drop_wanted_skill(ada, "Perl", by=ada)
    services.people.change_profile(ada, "Ada King", "ada.king@example.org", "Research", "UTC", by=ada)
    services.people.register("Carol", "ada@example.org", "Audit", PASSWORD)  # reclaims the freed email
    services.people.change_password(bob, "a new password", by=bob)
    services.people.grant_organizer(bob, by=organizer)
    services.people.revoke_organizer(bob, by=organizer)
    services.settle()
    withdrawn, _ = services.talks.propose(bob, "Withdrawn idea", "", ["x"])
    services.talks.revise(withdrawn, "Withdrawn idea, revised", "", ["x", "y"], by=bob)
    services.talks.withdraw(withdrawn, by=bob)
    services.people.deactivate(bob, by=bob)
    cancelled = a_scheduled_talk(services, organizer, room="great-hall", title="Cancelled one")
    services.talks.sign_up(cancelled, ada)
    services.talks.cancel(cancelled, "Clash", by=organizer)
    talk_id = a_scheduled_talk(services, ada)
    first, second, third = uuid4(), uuid4(), uuid4()
    for peer in (first, second, third):
        services.talks.sign_up(talk_id, peer)
    services.settle()
    services.talks.cancel_sign_up(talk_id, first)
    services.talks.schedule(talk_id, weekday_after(next_weekday(7)), "great-hall", by=ada)
    services.talks.send_reminder(talk_id)
    [row] = rows(services, TalkRow, TalkRow.id == str(talk_id))
    clock.set(row.starts_at + timedelta(minutes=50))
    services.talks.record_attendance(talk_id, {second: True, third: False}, by=ada)
    services.talks.give_feedback(talk_id, second, 4, "Good <b>talk</b>")
    services.settle()


def test_a_rebuild_equals_what_live_processing_built_table_by_table(services, clock):
    # given a history with every kind of core event, projected live as it happened
    a_history_with_every_event(services, clock)
    topics = {n.topic.split(":", 1)[1] for n in services.store.recorder.select_notifications(start=1, limit=10_000)}
    assert core_event_names() <= topics
    live = snapshot_of_every_table(services)
    # when every view is rebuilt from the log
    read = services.projector.rebuild()
    # then every table holds exactly the rows it held
    assert read == services.store.max_notification_id()
    rebuilt = snapshot_of_every_table(services)
    assert rebuilt.keys() == live.keys()
    for table in live:
        assert rebuilt[table] == live[table], table
    assert live["talks"] and live["signups"] and live["notifications"] and live["peers"]


def test_status_shows_each_view_lagging_by_the_events_not_yet_applied(services):
    # given settled read models
    an_organizer(services)
    services.settle()
    assert {s.lag for s in services.projector.status()} == {0}
    head = services.store.max_notification_id()
    # when three more events are stored and not yet projected
    ada = a_peer(services, "Ada Lovelace")  # two events: the peer and its email claim
    services.people.offer_skill(ada, "Python", by=ada)
    # then every view lags by three, up to the new head
    status = services.projector.status()
    assert {s.name for s in status} == {v.name for v in services.projector.views}
    assert {(s.position, s.head, s.lag) for s in status} == {(head, head + 3, 3)}
    services.settle()
    assert {s.lag for s in services.projector.status()} == {0}
    assert [r.name for r in rows(services, PeerRow, PeerRow.id == str(ada))] == ["Ada Lovelace"]
