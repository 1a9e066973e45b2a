"""A rebuild into a scratch file takes the talks' seat events from the log in SQL
(``projections.sqlreplay``) and gives the rows live processing gave: on random histories of
sign-ups, waitlists moving up, cancels from either list, signing up again, a talk revised,
reminded, moved and cancelled, attendance and feedback; through the whole two-process rebuild as
well. It falls back to decoding every event when a view that handles seat events has no SQL of
its own or an event class has an upcaster, and its timestamps are the text a flush writes."""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from commonroom.domain.talk import Talk
from commonroom.platform import rebuild as parallel
from commonroom.platform.bootstrap import bootstrap
from commonroom.projections import sqlreplay
from commonroom.projections.base import Tracking, UTCDateTime, _bind_processor
from commonroom.projections.schedule import ScheduleView
from core_given import a_peer, a_scheduled_talk, an_organizer
from test_replayers import a_random_history


@pytest.fixture
def app(sqlite_url, clock):
    app = bootstrap(sqlite_url, clock=clock)
    yield app
    app.close()


def tables(engine: sa.Engine, views) -> dict[str, list[tuple]]:
    with engine.connect() as c:
        found = {t.__tablename__: sorted((tuple(r) for r in c.execute(sa.select(t))), key=repr)
                 for view in views for t in view.tables}
        found["projection_tracking"] = sorted(c.execute(sa.select(Tracking.name, Tracking.position)).all())
    return found


def seats_made(monkeypatch) -> list[int]:
    """Counts the replays that read the seat events in SQL (each makes the seats table once)."""
    made = []
    seats = sqlreplay.seats

    def counting(conn, log, upto):
        if conn.info.get(sqlreplay.SEATS_TABLE) != (log, upto):
            made.append(upto)
        return seats(conn, log, upto)
    monkeypatch.setattr(sqlreplay, "seats", counting)
    return made


def rebuilt_into_scratch(app, tmp_path) -> tuple[int, dict[str, list[tuple]]]:
    scratch = tmp_path / "scratch.sqlite3"
    views = app.projector.views
    read = parallel.rebuild_into(app.database_url, str(scratch), [v.name for v in views], store=app.store)
    engine = sa.create_engine(f"sqlite:///{scratch}")
    try:
        return read, tables(engine, views)
    finally:
        engine.dispose()
        parallel._remove(scratch)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_rebuild_reading_the_seat_events_in_sql_gives_the_rows_live_processing_gave(app, clock, monkeypatch,
                                                                                     tmp_path, seed):
    # given a random history of sign-ups, cancels, moves, reminders and feedback, projected live
    a_random_history(app, clock, seed)
    live = tables(app.projector.engine, app.projector.views)
    assert {row[2] for row in live["signups"]} >= {"confirmed", "waitlisted", "cancelled"}
    assert {row[3] for row in live["notifications"]} == {"promoted", "reminder", "moved", "cancelled"}
    made = seats_made(monkeypatch)
    # when every view is rebuilt into a scratch file that reads the log in SQL
    read, rebuilt = rebuilt_into_scratch(app, tmp_path)
    # then the seat events were read in SQL, every event was counted once, and every table holds
    # exactly the rows (and positions) live processing built
    assert made == [app.store.max_notification_id()]
    assert read == app.store.max_notification_id()
    assert rebuilt == live
    # and so does the whole rebuild, half of the views in a second process, both reading one
    # seats table this process made (the second one's rows are in the views compared)
    shared = []
    make_shared = sqlreplay.make_shared_seats
    monkeypatch.setattr(sqlreplay, "make_shared_seats", lambda *args: shared.append(args[-1]) or make_shared(*args))
    assert parallel.rebuild(app, processes=2, min_events=0) == app.store.max_notification_id()
    assert tables(app.projector.engine, app.projector.views) == live
    assert shared == [app.store.max_notification_id()]


def test_a_view_handling_seat_events_without_sql_sends_the_replay_through_decoding(app, clock, monkeypatch,
                                                                                 tmp_path):
    # given a history with every seat case, projected live
    a_random_history(app, clock, 5)
    live = tables(app.projector.engine, app.projector.views)
    made = seats_made(monkeypatch)
    # when the schedule has no SQL for its seat counts (as a view added later might not)
    monkeypatch.setattr(ScheduleView, "sql_replayer", lambda self: None)
    read, rebuilt = rebuilt_into_scratch(app, tmp_path)
    # then no view read the seat events in SQL, and the rows are the live ones all the same
    assert made == []
    assert read == app.store.max_notification_id()
    assert rebuilt == live


def test_an_upcast_seat_event_sends_the_replay_through_decoding(app, clock, monkeypatch, tmp_path):
    a_random_history(app, clock, 6)
    live = tables(app.projector.engine, app.projector.views)
    made = seats_made(monkeypatch)
    # given a seat event class at its second version (its stored events upcast on decoding)
    monkeypatch.setattr(Talk.SignedUp, "class_version", 2, raising=False)
    monkeypatch.setattr(Talk.SignedUp, "upcast_v1_v2", staticmethod(lambda state: None), raising=False)
    assert not sqlreplay.usable()
    # then a rebuild decodes every event, and gives the live rows
    read, rebuilt = rebuilt_into_scratch(app, tmp_path)
    assert made == [] and read == app.store.max_notification_id() and rebuilt == live


def test_a_rebuild_in_sql_stops_at_the_head_it_began_with(app, monkeypatch, tmp_path):
    # given a talk with sign-ups past its seats, and one more sign-up saved while the rebuild reads
    organizer = an_organizer(app, rooms=(("Blue room", 3),))
    talk = a_scheduled_talk(app, organizer, days_ahead=7, title="First")
    for i in range(5):
        app.talks.sign_up(talk, a_peer(app, f"Peer {i}", f"peer{i}@example.org"))
    late = a_peer(app, "Late Comer", "late@example.org")
    head = app.store.max_notification_id()
    reads, during = app.store.read_events_leaving_out, []

    def reading(start, limit, upto, topics):
        if not during:
            during.append(app.talks.sign_up(talk, late))
        return reads(start, limit, upto, topics)
    monkeypatch.setattr(app.store, "read_events_leaving_out", reading)
    scratch = tmp_path / "scratch.sqlite3"
    read = parallel.rebuild_into(app.database_url, str(scratch), [v.name for v in app.projector.views],
                                 store=app.store)
    # then it rebuilt the log up to the head it began with (the late sign-up is the live
    # follower's to apply after the swap), and its positions say so
    assert during and app.store.max_notification_id() > head
    assert read == head
    with sqlite3.connect(scratch) as c:
        assert {p for (p,) in c.execute("SELECT position FROM projection_tracking")} == {head}
        assert c.execute("SELECT count(*) FROM signups").fetchone()[0] == 5
        assert c.execute("SELECT confirmed, waitlisted FROM talks").fetchone() == (3, 2)


@pytest.mark.parametrize("text", [
    "2026-12-06T04:00:19.863161+00:00",  # the common case, in SQL
    "2026-12-06T04:00:19+00:00",  # no microseconds: through Python
    "2026-03-29T01:30:00.000001+01:00",  # another offset: through Python
    "2026-12-06T04:00:19.5-05:30",
])
def test_the_timestamps_made_in_sql_are_those_a_flush_writes(text):
    dialect = sqlite_dialect.dialect()
    connection = sqlite3.connect(":memory:")
    sqlreplay.prepare(connection, ":memory:", "log")
    value = datetime.fromisoformat(text)
    for type_, to_utc in ((UTCDateTime(), True), (sa.DateTime(timezone=True), False)):
        made = connection.execute(f"WITH v(ts) AS (SELECT ?) SELECT {sqlreplay.stamp_sql('ts', to_utc)} FROM v",
                                  (text,)).fetchone()[0]
        assert made == _bind_processor(type_, dialect)(value) == sqlreplay.stamp(value, to_utc)
    assert sqlreplay.stamp(value.astimezone(ZoneInfo("Europe/London")), True) == \
        sqlreplay.stamp(value.astimezone(timezone.utc) + timedelta(0), True)


def test_a_rebuild_in_sql_reports_progress_through_its_sql_to_the_end(app, clock, tmp_path):
    # given a history, rebuilt into a scratch file with a progress callback
    a_random_history(app, clock, 8)
    head, seen = app.store.max_notification_id(), []
    scratch = tmp_path / "scratch.sqlite3"
    parallel.rebuild_into(app.database_url, str(scratch), [v.name for v in app.projector.views],
                          progress=lambda position, of: seen.append((position, of)), store=app.store)
    # then the positions only move forward, keep moving while the views' SQL runs (one step for
    # each of the four views that take seat events), and end at the head
    positions = [position for position, _ in seen]
    assert positions == sorted(positions) and positions[-1] == head and {of for _, of in seen} == {head}
    assert len({p for p in positions if p > head * sqlreplay.Phases.READING}) == 4


def test_reading_the_log_leaving_out_topics_gives_what_read_events_gives_without_them(app, clock):
    a_random_history(app, clock, 9)
    head = app.store.max_notification_id()
    every = app.store.read_events(1, head)
    seat_topics = sqlreplay.topics(sqlreplay.SEATS)
    left = app.store.read_events_leaving_out(1, head, head, seat_topics)
    assert [(n, type(e)) for n, e in left] == [(n, type(e)) for n, e in every if not isinstance(e, sqlreplay.SEATS)]
    # up to a bound, and with nothing left out (every event)
    assert [n for n, _ in app.store.read_events_leaving_out(1, head, head // 2, [])] == list(range(1, head // 2 + 1))


def test_a_rebuild_from_a_shared_seats_table_reads_up_to_where_it_was_made(app, clock, tmp_path):
    # given a history, and its seats table made up to three notifications before the head (as
    # the first process of a rebuild makes it for both)
    a_random_history(app, clock, 5)
    head = app.store.max_notification_id()
    upto = head - 3
    seats = tmp_path / "seats.sqlite3"
    sqlreplay.create_shared_seats(str(seats))
    sqlreplay.make_shared_seats(str(seats), app.store.sqlite_path, app.store.recorder.events_table_name, upto)
    told = []
    shared = sqlreplay.SharedSeats(str(seats), ready=lambda: told.append(True))
    # when every view is rebuilt into a scratch file from it, up to that notification
    scratch = tmp_path / "scratch.sqlite3"
    read = parallel.rebuild_into(app.database_url, str(scratch), [v.name for v in app.projector.views],
                                 store=app.store, upto=upto, shared=shared)
    # then it waited for the table once, read the log up to there and no further, and every
    # view's position says so
    assert told == [True] and read == upto
    with sqlite3.connect(scratch) as c:
        assert {p for (p,) in c.execute("SELECT position FROM projection_tracking")} == {upto}
    # and a replay to another position is refused the table rather than given it
    log = sqlreplay.Log("log", app.store.recorder.events_table_name, app.store.read_events_leaving_out, upto, shared)
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn, pytest.raises(ValueError, match="made up to"):
        sqlreplay.seats(conn, log, head)
    engine.dispose()


@pytest.mark.parametrize("said, waits", [("seats ready\n", True), ("", False), ("something else\n", False)])
def test_the_second_process_reads_the_seats_table_only_once_told_it_is_made(monkeypatch, said, waits):
    # given what the first process wrote to the second one's input before closing it (nothing if
    # it failed before the seats table was made)
    monkeypatch.setattr("sys.stdin", io.StringIO(said))
    # then the second process goes on only on the word that it is made, and fails otherwise
    if waits:
        parallel._told()
    else:
        with pytest.raises(RuntimeError, match="did not make the seats table"):
            parallel._told()


@pytest.mark.parametrize("group, from_signups", [
    (["notifications"], False), (["attendance", "notifications"], True), (["notifications", "attendance"], True),
    (["attendance"], False), (["expertise"], False), (["schedule"], False)])
def test_a_group_of_views_rebuilt_in_sql_gives_their_live_rows(app, clock, monkeypatch, tmp_path, group, from_signups):
    # given a random history with sign-ups of every status, projected live
    a_random_history(app, clock, 6)
    with app.projector.engine.connect() as c:
        assert {status for (status,) in c.exec_driver_sql("SELECT DISTINCT status FROM signups")} == \
            {"confirmed", "waitlisted", "cancelled"}
    views = [app.projector.view(name) for name in group]
    live = tables(app.projector.engine, views)
    live["projection_tracking"] = [row for row in live["projection_tracking"] if row[0] in group]
    found = []
    made = sqlreplay.made
    monkeypatch.setattr(sqlreplay, "made", lambda *args: found.append(made(*args)) or found[-1])
    # when only those views are rebuilt into a scratch file (as one process of a rebuild would)
    scratch = tmp_path / "scratch.sqlite3"
    parallel.rebuild_into(app.database_url, str(scratch), group, store=app.store)
    engine = sa.create_engine(f"sqlite:///{scratch}")
    try:
        rebuilt = tables(engine, views)
    finally:
        engine.dispose()
    # then they hold the live rows; the notifications' audience read from attendance's rows when
    # the same replay made them (attendance's SQL runs first, whatever order they are named in)
    assert rebuilt == live
    assert found == ([] if "notifications" not in group else ["signups" if from_signups else None])
