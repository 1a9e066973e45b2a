"""Batched views (rows held in memory per batch, written in bulk): the same rows whatever the batch
size, nothing written by a failed batch, idle catch-ups that touch nothing, and a runner that goes
back for a view another runner set back."""

from __future__ import annotations

from uuid import uuid4

import pytest
import sqlalchemy as sa

from commonroom.projections.attendance import AttendanceView, SignUpRow
from commonroom.projections.base import Rows, Tracking, _Table
from commonroom.projections.people import PeerSkillRow
from commonroom.projections.runner import Projector
from core_given import a_peer, a_scheduled_talk, an_organizer
from test_projections import (a_busy_talk, a_history_with_every_event, assert_views_match_the_talk, core_views,
                              snapshot_of_every_table)


def a_projector(services, batch_size: int = 1000, rebuild_batch_size: int = 5000) -> Projector:
    return Projector(services.projector.engine, services.store.recorder, services.store.mapper, core_views(),
                     batch_size=batch_size, rebuild_batch_size=rebuild_batch_size)


def test_rebuilding_in_one_big_batch_or_in_small_ones_equals_applying_one_event_at_a_time(services, clock):
    # given every kind of core event, and a busy talk whose sign-ups, cancellations and promotions
    # all touch the same rows
    a_history_with_every_event(services, clock)
    talk_id = a_scheduled_talk(services, a_peer(services, "Dora Busy"), days_ahead=14)  # one seat
    peers = [uuid4() for _ in range(30)]
    for i, peer in enumerate(peers):
        services.talks.sign_up(talk_id, peer)
        if i % 3 == 2:
            services.talks.cancel_sign_up(talk_id, peers[i - 1 - i % 2])
    # and the views built one event per transaction (a rebuild that catches up batch by batch)
    one_at_a_time = a_projector(services, rebuild_batch_size=1)
    one_at_a_time.ATOMIC_REBUILD_UP_TO = 0
    one_at_a_time.rebuild()
    expected = snapshot_of_every_table(services)
    assert_views_match_the_talk(services, talk_id)
    # when they are rebuilt in batches of 7, and in one batch holding the whole log, catching up
    # and in one transaction (a short log's rebuild: Projector.replay(atomic=True))
    for size in (7, 100_000):
        for atomic in (False, True):
            projector = a_projector(services, rebuild_batch_size=size)
            projector.ATOMIC_REBUILD_UP_TO = 10**9 if atomic else 0
            projector.rebuild()
            # then every table holds exactly the same rows
            rebuilt = snapshot_of_every_table(services)
            for table in expected:
                assert rebuilt[table] == expected[table], (size, atomic, table)
    assert expected["signups"] and expected["notifications"] and expected["peer_skills"]


def test_live_batches_of_many_events_on_one_talk_agree_with_the_talk(services):
    # given many sign-ups and cancellations on one talk, not yet projected
    talk_id, _ = a_busy_talk(services, sign_ups=40)
    # when they are projected in batches of 5 and then in one batch of the rest
    projector = a_projector(services, batch_size=5)
    projector.catch_up(until=services.store.max_notification_id() - 20)
    projector.batch_size = 1000
    projector.catch_up()
    # then seats, waitlist positions and counts match the aggregate
    assert_views_match_the_talk(services, talk_id)


def test_a_skill_offered_withdrawn_and_offered_again_in_one_batch_is_stored_once(services):
    # given a peer whose skill comes and goes within what one batch will hold
    ada = a_peer(services, "Ada Lovelace")
    services.settle()
    for _ in range(3):
        services.people.offer_skill(ada, "Python", by=ada)
        services.people.withdraw_skill(ada, "Python", by=ada)
    services.people.offer_skill(ada, "Python", by=ada)
    # when the batch is applied
    services.settle()
    # then the one row the last event leaves is there, once
    with services.engine.connect() as c:
        skills = c.execute(sa.select(PeerSkillRow.kind, PeerSkillRow.skill)
                           .where(PeerSkillRow.peer_id == str(ada))).all()
    assert skills == [("offer", "Python")]


class FailsAtTheEnd(AttendanceView):
    """Attendance failing after every handler ran, as a lost connection during the write would."""

    def prefetch(self, events, rows: Rows) -> None:
        super().prefetch(events, rows)
        rows.flush = self.fail

    @staticmethod
    def fail() -> None:
        raise RuntimeError("lost the database while writing the batch")


def test_a_batch_failing_while_it_writes_leaves_every_view_and_position_as_it_was(services):
    # given projected views, then a busy talk not yet projected
    talk_id, _ = a_busy_talk(services, sign_ups=12)
    views = core_views()
    views[2] = FailsAtTheEnd()
    projector = Projector(services.projector.engine, services.store.recorder, services.store.mapper, views)
    before, positions = snapshot_of_every_table(services), projector.positions()
    assert max(positions.values()) < services.store.max_notification_id()
    # when the batch fails after people and schedule wrote their rows in its transaction
    with pytest.raises(RuntimeError, match="lost the database"):
        projector.catch_up()
    # then nothing of it is stored and no position moved
    assert snapshot_of_every_table(services) == before
    assert projector.positions() == positions
    # and a healthy runner applies all of it
    a_projector(services).catch_up()
    assert_views_match_the_talk(services, talk_id)


def test_an_idle_catch_up_sends_no_statement_to_the_read_model_database(services):
    # given views that have read the whole log
    an_organizer(services)
    projector = a_projector(services)
    projector.catch_up()
    statements, checkouts = [], []
    for engine in {projector.engine, projector.read_engine}:
        sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        # batches run their statements on the DB-API cursor, past SQLAlchemy's statement events:
        # no statement can be sent without a connection taken from the pool first
        sa.event.listen(engine, "checkout", lambda *args: checkouts.append(args[0]))
    # when it catches up with nothing new
    read = projector.catch_up()
    # then it read nothing and neither opened a transaction nor read a position
    assert read == 0
    assert statements == [] and checkouts == []
    # (and the listeners do see a batch: one more event takes a connection)
    a_peer(services, "Olga Newcomer")
    assert projector.catch_up() > 0 and checkouts


def test_a_view_set_back_by_another_runner_is_replayed_by_a_runner_that_had_seen_it_at_the_head(services):
    # given a runner that has applied the whole log
    organizer = an_organizer(services)
    talk_id = a_scheduled_talk(services, organizer)
    for _ in range(8):
        services.talks.sign_up(talk_id, uuid4())
    runner = a_projector(services)
    runner.catch_up()
    # and attendance emptied and set back to the start elsewhere (a rebuild that died half way)
    with services.projector.engine.begin() as c:
        c.execute(sa.delete(SignUpRow))
        c.execute(sa.update(Tracking).where(Tracking.name == "attendance").values(position=0))
    # when one more event arrives and the runner catches up
    services.talks.sign_up(talk_id, uuid4())
    runner.catch_up()
    # then attendance holds every sign-up again, each once
    assert set(runner.positions().values()) == {services.store.max_notification_id()}
    assert_views_match_the_talk(services, talk_id)


def test_a_live_batch_reads_the_sign_ups_it_touches_not_every_sign_up_of_their_talks(services):
    # given fifteen talks whose sign-ups are projected
    first, _ = a_busy_talk(services, sign_ups=20)
    speaker = a_peer(services, "Dora Busy")
    talks = [first] + [a_scheduled_talk(services, speaker, days_ahead=7 * (i + 2)) for i in range(14)]
    for talk in talks[1:]:
        for _ in range(3):
            services.talks.sign_up(talk, uuid4())
    services.settle()
    # when a batch of 60 new sign-ups arrives, four per talk: more than the 50 keys from which a
    # batch may read whole groups, but too few per talk for that to pay
    for i in range(60):
        services.talks.sign_up(talks[i % len(talks)], uuid4())
    projector = a_projector(services)
    held = []
    flush = _Table.flush

    def counting(table):
        if table.model is SignUpRow:
            held.append(len(table.stored))
        flush(table)
    _Table.flush = counting
    try:
        projector.catch_up()
    finally:
        _Table.flush = flush
    # then the batch read none of the talks' earlier sign-ups (the new keys are not stored yet)
    assert held == [0]
    for talk in talks:
        assert_views_match_the_talk(services, talk)


def test_reading_rows_by_whole_key_searches_the_key_instead_of_scanning_the_table(services):
    # given projected sign-ups
    a_busy_talk(services, sign_ups=5)
    services.settle()
    from commonroom.projections.base import _by_keys
    with services.projector.read_engine.connect() as c:
        if c.dialect.name == "sqlite":  # the plan is SQLite's; PostgreSQL runs the same statement
            sql = str(_by_keys(SignUpRow, 4).compile(c))
            plan = " ".join(str(row[-1]) for row in c.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql, tuple(f"x{i}" for i in range(8))))
            # then each key is a search of the primary key, never a scan of signups
            assert "SEARCH signups" in plan and "SCAN signups" not in plan, plan
        # and the batch reads exactly the rows asked for (a key padded twice comes back once)
        wanted = [tuple(r) for r in c.execute(sa.select(SignUpRow.talk_id, SignUpRow.peer_id).limit(3))]
        rows = Rows(c)
        rows.load_keys(SignUpRow, wanted + [("no such talk", "nobody")])
        assert sorted(rows.table(SignUpRow).stored) == sorted(wanted)
