"""Every view, batched (``base.Rows``): trades, mentoring, expertise (with its versioned history
for "as of") and the graph give the same rows whether the log is replayed one event per batch, in
batches of 7, or in one batch, and the same rows live processing built."""

from __future__ import annotations

import os
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from commonroom.platform import directory as d
from commonroom.platform import rebuild as parallel
from commonroom.platform.bootstrap import all_views, bootstrap
from commonroom.projections.base import Tracking
from commonroom.projections.runner import Projector
from directory_given import a_peer, a_talk_held
from test_projections import a_history_with_every_event

CONVERTED = ("trades", "mentoring", "expertise", "graph")


def every_table(services) -> dict[str, list[tuple]]:
    """Every row of every view's tables (and the tracking positions), sorted."""
    with services.engine.connect() as c:
        snapshot = {t.__tablename__: sorted((tuple(r) for r in c.execute(sa.select(t))), key=repr)
                    for view in services.projector.views for t in view.tables}
        snapshot["projection_tracking"] = sorted(c.execute(sa.select(Tracking.name, Tracking.position)).all())
    return snapshot


def handled_event_names(view) -> set[str]:
    registry = type(view).__dict__["handle"].dispatcher.registry
    return {kind.__qualname__ for kind in registry if kind is not object}


def a_history_with_every_exchange(services, clock) -> None:
    """Trades (each way one can go), a trading profile, two circles, a mentorship from application to
    its end, talks held and revised, endorsements given, revised and withdrawn, an alias merge and a
    peer with skills who leaves: every event the trades, mentoring, expertise and graph views handle."""
    organizer = services.people.peer_id_for_email("olive@example.org")
    sam = a_peer(services, "Sam Speaker", "Engineering", offers=["Python", "SQL"], wants=["Go"])
    ann, bob, cat, dan = (a_peer(services, f"{n} Learner", "Tax", offers=[s], wants=["Python"])
                          for n, s in (("Ann", "Go"), ("Bob", "Rust"), ("Cat", "Excel"), ("Dan", "Audit")))
    talk = a_talk_held(services, clock, sam, ["Python", "Testing"], attendees=[ann, bob, cat], ratings=[5])
    services.settle(services.talks.record_attendance(talk, {cat: False}, by=sam))
    services.settle(services.talks.revise(talk, "Python, tested", "", ["Python", "pytest"], by=sam))
    services.talks.give_feedback(talk, bob, 2, "")
    services.directory.endorse(ann, sam, "Python", "Patient and clear")
    services.directory.endorse(ann, sam, "pytest", "")  # revised
    services.directory.endorse(bob, sam, "Python")
    services.directory.withdraw_endorsement(bob, sam)
    services.directory.merge_alias("py", "Python", by=organizer)
    day = clock.now().date()
    trade, _ = services.trades.propose(sam, ann, "SQL", "Go", "Lunch?")
    services.trades.counter(trade, "Excel", by=ann)
    services.trades.accept(trade, by=sam)
    services.trades.add_note(trade, "Ann prefers mornings", by=sam)
    services.trades.log_session(trade, sam, "SQL", day - timedelta(days=3), 60, by=sam)
    services.trades.confirm_session(trade, "1", by=ann)
    services.trades.log_session(trade, ann, "Excel", day - timedelta(days=2), 30, by=ann)
    services.trades.dispute_session(trade, "2", "it was 20 minutes", by=sam)
    services.trades.log_session(trade, sam, "SQL", day - timedelta(days=1), 45, by=sam)
    services.trades.confirm_session(trade, "3", by=ann)
    services.trades.correct_session(trade, "3", sam, "SQL", day - timedelta(days=1), 40, by=sam)
    services.trades.confirm_session(trade, "4", by=ann)
    services.trades.pause(trade, by=ann)
    services.trades.resume(trade, by=sam)
    services.trades.end(trade, "Learned plenty", by=sam)
    services.trades.reflect(trade, "Me too", by=ann)
    declined, _ = services.trades.propose(bob, cat, "Rust", "Excel")
    services.trades.decline(declined, "No time", by=cat)
    withdrawn, _ = services.trades.propose(cat, dan, "Excel", "Audit")
    services.trades.withdraw(withdrawn, by=cat)
    services.trades.update_profile(ann, "Analyst", "Engineer", False, 2)
    services.trades.update_profile(ann, "Analyst", "Engineer", True, 4)
    circle, _ = services.trades.propose_circle([bob, cat, dan], ["Rust", "Excel", "Audit"], by=bob)
    services.trades.accept_circle(circle, by=cat)
    services.trades.accept_circle(circle, by=dan)
    refused, _ = services.trades.propose_circle([dan, cat, bob], ["Audit", "Excel", "Rust"], by=dan)
    services.trades.decline_circle(refused, "Busy", by=bob)
    programme, _ = services.mentoring.start_programme("Fellows", "A year of learning", by=organizer)
    services.mentoring.join_as_mentor(programme, sam, "Python, SQL", "Engineering", "English", "UTC", 2)
    services.mentoring.apply(programme, dan, "Write Python", "Python", "Audit", "English", "UTC")
    services.mentoring.apply(programme, cat, "Write SQL", "SQL", "Tax", "English", "UTC")
    mentorship, _ = services.mentoring.pair(programme, sam, dan, by=organizer)
    services.mentoring.log_contact(mentorship, day, 30, "call", "first steps", by=dan)
    services.mentoring.log_contact(mentorship, day, 45, "document review", "", by=sam)
    services.mentoring.end(mentorship, "goals met", "Dan writes Python now", by=sam)
    services.people.deactivate(bob, by=bob)
    services.settle()


def test_every_view_rebuilt_one_event_at_a_time_in_sevens_or_in_one_batch_holds_the_live_rows(services, clock):
    # given a history with every event of every view, projected live as it happened
    a_history_with_every_event(services, clock)
    a_history_with_every_exchange(services, clock)
    logged = {n.topic.split(":", 1)[1] for n in services.store.recorder.select_notifications(start=1, limit=10_000)}
    for view in services.projector.views:
        if view.name in CONVERTED:
            assert handled_event_names(view) <= logged, view.name
    live = every_table(services)
    as_of = clock.now() - timedelta(days=5)
    before = (d.graph(services.engine, at=as_of).edges, d.skill_overview(services.engine, at=as_of))
    # when every view is rebuilt one event per batch, seven per batch, and in one batch
    for size in (1, 7, 100_000):
        projector = Projector(services.projector.engine, services.store.recorder, services.store.mapper,
                              services.projector.views, rebuild_batch_size=size)
        projector.rebuild()
        # then every table holds exactly the rows live processing built
        rebuilt = every_table(services)
        for table in live:
            assert rebuilt[table] == live[table], (size, table)
    # and a time-travel read gives the answer it gave
    assert (d.graph(services.engine, at=as_of).edges, d.skill_overview(services.engine, at=as_of)) == before
    for table in ("trades", "trade_sessions", "trade_notes", "trade_reflections", "trading_profiles",
                  "trade_circle_members", "mentoring_members", "mentorships", "mentoring_contacts",
                  "expertise_evidence", "skill_wants", "endorsements", "talk_versions", "talk_seat_changes", "skill_aliases",
                  "peer_versions", "learning_edges"):
        assert live[table], table


@pytest.mark.parametrize("hold_rows, batch", [(250_000, 5000), (40, 7), (0, 1)])
def test_a_replay_holding_rows_across_batches_writes_the_live_rows(services, clock, hold_rows, batch):
    # given a history with every event of every view, projected live as it happened
    a_history_with_every_event(services, clock)
    a_history_with_every_exchange(services, clock)
    live = every_table(services)
    # when the views are replayed keeping their rows in memory: all of them to the end, a few
    # dozen at a time (later segments read what earlier ones wrote), or written every batch of one
    projector = Projector(services.projector.engine, services.store.recorder, services.store.mapper,
                          services.projector.views, rebuild_batch_size=batch)
    read = projector.replay(hold_rows=hold_rows)
    # then it read the whole log and every table holds exactly the rows live processing built
    assert read == services.store.max_notification_id()
    assert every_table(services) == live


@pytest.mark.parametrize("fork", [True, False], ids=["fork", "interpreter"])
@pytest.mark.parametrize("second_process", ["works", "fails"])
def test_a_rebuild_split_over_two_processes_holds_the_live_rows(services, clock, monkeypatch, second_process, fork):
    # given a history with every event of every view, projected live as it happened
    a_history_with_every_event(services, clock)
    a_history_with_every_exchange(services, clock)
    live = every_table(services)
    indexes = table_indexes(services)
    if second_process == "fails" and fork:  # the fork's rebuild raises (the fork runs this process's code)
        def failing(*args, **kwargs):
            raise RuntimeError("the second rebuild fails")
        monkeypatch.setattr(parallel, "_second_process", failing)
    elif second_process == "fails":  # a real interpreter that cannot start the second rebuild
        monkeypatch.setattr(parallel, "CHILD", [sys.executable, "-m", "commonroom.platform.no_such_module"])
    # when the views are rebuilt with half of them in a second process (SQLite; PostgreSQL: one),
    # a fork of this one or a fresh interpreter
    read = parallel.rebuild(services, processes=2, min_events=0, fork=fork)
    # then it read the whole log, and every table holds exactly the rows live processing built,
    # whether the second process's rows were swapped in or, when it failed, rebuilt here instead
    assert read == services.store.max_notification_id()
    assert every_table(services) == live
    assert not list(Path(services.projector.engine.url.database or ".").parent.glob("*.rebuild-*"))
    # and every index the views had is there again (the swap drops them for the copy)
    assert table_indexes(services) == indexes


def test_a_two_process_rebuild_into_a_views_file_with_its_columns_in_another_order(sqlite_url, clock):
    # given a views file whose sign-ups table was made with its columns in another order (as an
    # older version might have made it): a copy of the rows with SELECT * would shuffle them
    # (SQLite only: the scratch files and their swap are SQLite's)
    services = bootstrap(sqlite_url, clock=clock)
    try:
        a_two_process_rebuild_into_reordered_columns(services, clock)
    finally:
        services.close()


def a_two_process_rebuild_into_reordered_columns(services, clock) -> None:
    a_history_with_every_event(services, clock)
    live = every_table(services)
    with services.projector.engine.begin() as c:
        columns = [row[1] for row in c.exec_driver_sql("PRAGMA table_info(signups)")]
        reordered = ", ".join(f'"{name}"' for name in reversed(columns))
        c.exec_driver_sql("ALTER TABLE signups RENAME TO signups_before")
        c.exec_driver_sql(f"CREATE TABLE signups AS SELECT {reordered} FROM signups_before")
        c.exec_driver_sql("DROP TABLE signups_before")
    # when the views are rebuilt on two processes and swapped in
    parallel.rebuild(services, processes=2, min_events=0)
    # then every value is in its own column
    assert every_table(services) == live


def table_indexes(services) -> set:
    """Each index as (table, its columns, unique); on SQLite without its name, which a swap
    alternates between the model's and the model's + ``_r`` (an index cannot be renamed)."""
    with services.projector.read_engine.connect() as c:
        if c.dialect.name != "sqlite":
            return set(c.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
        found = set()
        for (table,) in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for _seq, name, unique, origin, _partial in c.exec_driver_sql(f'PRAGMA index_list("{table}")'):
                columns = tuple(row[2] for row in c.exec_driver_sql(f'PRAGMA index_info("{name}")'))
                found.add((table, columns, bool(unique), origin))
        return found


def index_names(services) -> set[str]:
    with services.projector.read_engine.connect() as c:
        return {name for (name,) in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}


@pytest.mark.parametrize("events", [100_000, 1_000_000])
def test_the_split_gives_every_view_to_one_process_in_groups_that_finish_together(events):
    views = all_views()
    names = [view.name for view in views]
    seat_views = {view.name for view in views if view.sql_replayer() is not None}
    assert seat_views == {"attendance", "expertise", "notifications", "schedule"}
    here, there = parallel.split(names, events, seat_views)
    assert sorted(here + there) == sorted(names) and not set(here) & set(there)
    # the process whose replay ends first ends its copy about when the other's replay ends
    # (within the cost of the heaviest view that could still move), so neither waits for the
    # other's copy: by the measured costs, the first process making the seats table for both and
    # the second one's start counted
    movable = max(parallel.COST.get(n, 1) + parallel.COPY_COST.get(n, 0) for n in names) * events / 1e6
    (early, early_copy), (late, _) = sorted((parallel.group_seconds(here, events, makes_seats=True),
                                             parallel.group_seconds(there, events, False,
                                                                    parallel.CHILD_START_SECONDS)))
    assert abs(early + early_copy - late) <= movable
    # and no other split would end sooner by those costs
    assert parallel.finish_seconds(here, there, events, seat_views) == pytest.approx(min(
        parallel.finish_seconds([n for n in names if n not in group], group, events, seat_views)
        for group in ([n for i, n in enumerate(names) if mask >> i & 1] for mask in range(1, 2 ** len(names) - 1))))


def test_a_split_finishes_when_the_later_copy_does():
    # given two groups whose replays and copies take known times by the costs (one view each)
    events = 1_000_000
    first = parallel.group_seconds(["attendance"], events, makes_seats=True)
    second = parallel.group_seconds(["expertise"], events, False, parallel.CHILD_START_SECONDS)
    assert first == (parallel.READ_COST + parallel.SEATS_COST + parallel.COST["attendance"],
                     parallel.COPY_COST["attendance"])
    # then the rebuild is done when the replay that ends later is done and its copy, after the
    # other's copy if that one still runs (the views file takes one copy at a time)
    (early, early_copy), (late, late_copy) = sorted((first, second))
    assert parallel.finish_seconds(["attendance"], ["expertise"], events, {"attendance", "expertise"}) == \
        pytest.approx(max(early + early_copy, late) + late_copy)


def test_while_a_two_process_rebuild_runs_the_live_views_keep_their_rows(services, clock, monkeypatch):
    # given projected views
    a_history_with_every_event(services, clock)
    live = every_table(services)
    seen = []
    real = parallel.rebuild_into

    parent = os.getpid()

    def looking(*args, **kwargs):  # this process's group is being rebuilt into its scratch file
        if os.getpid() == parent:  # (not in a fork: it must not use this process's connections)
            seen.append(every_table(services))
        return real(*args, **kwargs)
    monkeypatch.setattr(parallel, "rebuild_into", looking)
    # when they are rebuilt on two processes
    parallel.rebuild(services, processes=2, min_events=0)
    # then readers saw every row while it ran (not emptied views), and the same rows after
    if services.database_url.startswith("sqlite"):
        assert seen and all(tables == live for tables in seen)
    assert every_table(services) == live


def test_a_rebuild_of_a_short_log_is_one_transaction_that_the_followers_wait_for(services, clock):
    # given projected views
    a_history_with_every_event(services, clock)
    live = every_table(services)
    projector = Projector(services.projector.engine, services.store.recorder, services.store.mapper,
                          services.projector.views, rebuild_batch_size=5,
                          read_events=services.store.read_events)
    assert services.store.max_notification_id() <= projector.ATOMIC_REBUILD_UP_TO
    seen, order = [], []

    def a_followers_batch() -> None:  # as a live follower's batch starts: the positions, locked
        with services.projector.engine.begin() as conn:
            services.projector._positions_locked(conn.dialect).rows(conn)
            order.append("follower")
    follower = threading.Thread(target=a_followers_batch)

    def looking(position, head):  # a batch of the rebuild has been read and applied
        order.append("batch")
        seen.append(every_table(services))
        if len(seen) == 2:
            follower.start()
            follower.join(0.5)
    # when they are rebuilt
    projector.rebuild(progress=looking)
    follower.join(30)
    # then readers saw the old rows while it ran (not emptied views, not half-built ones), and the
    # same rows after
    batches = order.count("batch")
    assert batches > 3 and all(tables == live for tables in seen)
    assert every_table(services) == live
    # and the follower's batch waited for the rebuild's transaction (the last batch's progress is
    # told after its commit)
    assert order.index("follower") >= batches - 1


def test_a_log_too_short_for_two_processes_is_rebuilt_in_one_transaction():
    # rebuild() leaves a log shorter than parallel_from(fork) to Projector.rebuild: that must be
    # the one-transaction path (readers keep the old rows), not the emptied-then-refilled one
    assert max(parallel.parallel_from(True), parallel.parallel_from(False)) <= Projector.ATOMIC_REBUILD_UP_TO
    # (a fork starts in a few ms, a fresh interpreter in 0.35-0.9 s: it pays from a longer log)
    assert parallel.parallel_from(True) < parallel.parallel_from(False)


def test_a_rebuild_forks_its_second_process_only_from_a_process_without_other_threads():
    # a thread holding a lock as the fork happens would leave it held in the fork for ever
    assert parallel.forks() == (threading.active_count() == 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not parallel.forks()
    finally:
        stop.set()
        other.join()


def test_a_two_process_rebuild_copies_without_holding_the_views_file_and_swaps_in_one_step(sqlite_url, clock,
                                                                                          monkeypatch):
    # given projected views, and a shadow table left by a rebuild killed during its copy
    services = bootstrap(sqlite_url, clock=clock)
    try:
        a_history_with_every_event(services, clock)
        indexes, names = table_indexes(services), index_names(services)
        with services.projector.engine.begin() as c:
            c.exec_driver_sql('CREATE TABLE "signups__rebuilt_999999999" (x INTEGER)')
        copied, registered = [], []
        real = parallel._shadow_ddl
        # (every table swapped in by renaming it: this history's tables would all be copied)
        monkeypatch.setattr(parallel, "SWAP_ROWS_AT_MOST", -1)
        parent = os.getpid()

        def meanwhile(model, shadow, taken):
            # while the rebuilt rows are being copied in, a peer registers and the live follower
            # projects it: the views file is not held for the whole copy (by this process's copy:
            # a forked second process must not use this one's connections)
            if os.getpid() != parent:
                return real(model, shadow, taken)
            if len(copied) == 1 and not registered:
                registered.append(True)
                services.settle(services.people.register("Late Comer", "late@example.org", "Tax",
                                                         "a-long-password", "UTC").position)
            copied.append(model.__tablename__)
            return real(model, shadow, taken)
        monkeypatch.setattr(parallel, "_shadow_ddl", meanwhile)
        # when the views are rebuilt on two processes, twice
        parallel.rebuild(services, processes=2, min_events=0)
        services.settle()
        after_one = every_table(services)
        first_names = index_names(services)
        copied.clear()
        parallel.rebuild(services, processes=2, min_events=0)
        services.settle()
        # then the peer registered during the copy is in the views (the follower applied its event
        # again after the swap set the positions back to the rebuilt ones), the rows are those of an
        # in-place rebuild, every index is there again, under the other name each time
        assert any(row[1] == "Late Comer" for row in every_table(services)["peers"])
        assert every_table(services) == after_one
        services.projector.rebuild()
        assert every_table(services) == after_one
        assert table_indexes(services) == indexes
        assert first_names != names and index_names(services) == names
        # and no shadow table is left, the dead rebuild's included
        with services.projector.engine.connect() as c:
            assert not c.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE '%rebuilt%'").all()
    finally:
        services.close()


def index_names_by_table(services) -> dict[str, set[str]]:
    with services.projector.engine.connect() as c:
        rows = c.exec_driver_sql("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'").all()
    names: dict[str, set[str]] = {}
    for table, name in rows:
        if not name.startswith("sqlite_autoindex_"):  # (renamed with their table)
            names.setdefault(table, set()).add(name)
    return names


def test_a_swap_copies_the_rows_of_small_tables_and_renames_large_ones(sqlite_url, clock, monkeypatch):
    # given projected views (SQLite: the swap is SQLite's) in which some tables hold more rows than
    # a swap copies, and a small table with an index its model does not have (an older version's)
    services = bootstrap(sqlite_url, clock=clock)
    try:
        a_history_with_every_event(services, clock)
        live, indexes = every_table(services), table_indexes(services)
        monkeypatch.setattr(parallel, "SWAP_ROWS_AT_MOST", 2)
        large = {name for name, rows in live.items() if len(rows) > 2 and name != "projection_tracking"}
        small = {name for name, rows in live.items() if len(rows) <= 2 and name != "projection_tracking"}
        assert large and small
        odd = sorted(small)[0]
        with services.projector.engine.begin() as c:
            column = c.exec_driver_sql(f'PRAGMA table_info("{odd}")').all()[-1][1]
            c.exec_driver_sql(f'CREATE INDEX "not_in_the_model" ON "{odd}" ("{column}")')
        before = index_names_by_table(services)
        assert any(before.get(t) for t in large) and any(before.get(t) for t in small - {odd})
        # when the views are rebuilt on two processes and swapped in
        parallel.rebuild(services, processes=2, min_events=0)
        after = index_names_by_table(services)
        # then every table holds the rows live processing built, with the model's indexes
        assert every_table(services) == live
        assert table_indexes(services) == indexes
        # the large tables were renamed in (an index keeps the name it was made with: the shadows'
        # alternate), the small ones kept their tables and index names and took the rebuilt rows,
        # but the one whose indexes were not the model's was renamed in like a large one
        assert all(after.get(t) != before.get(t) for t in large if before.get(t))
        assert all(after.get(t) == before.get(t) for t in small - {odd})
        assert "not_in_the_model" not in after.get(odd, set())
        # and no shadow or retired table is left
        with services.projector.engine.connect() as c:
            assert not c.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name LIKE '%rebuilt%' OR name LIKE '%retired%'").all()
    finally:
        services.close()


def test_a_replay_holds_rows_by_the_memory_available(tmp_path):
    def meminfo(available_kb: int | None) -> str:
        path = tmp_path / f"meminfo-{available_kb}"
        lines = ["MemTotal:       24000000 kB"]
        lines += [f"MemAvailable:   {available_kb} kB"] if available_kb else []
        path.write_text("\n".join(lines) + "\n")
        return str(path)
    # a quarter of what is available, shared by the processes, at ~1 kB a row
    assert parallel.hold_rows(2, meminfo(24_000_000)) == 24_000_000 * 1024 // 4 // 2 // 1000
    assert parallel.hold_rows(1, meminfo(24_000_000)) == 24_000_000 * 1024 // 4 // 1000
    # never fewer than the floor, which is also what an unreadable or odd meminfo gives
    assert parallel.hold_rows(2, meminfo(500_000)) == parallel.HOLD_ROWS_AT_LEAST
    assert parallel.hold_rows(2, meminfo(None)) == parallel.HOLD_ROWS_AT_LEAST
    assert parallel.hold_rows(2, str(tmp_path / "missing")) == parallel.HOLD_ROWS_AT_LEAST


def test_the_second_process_copies_its_group_into_shadow_tables_the_first_swaps_in(sqlite_url, clock,
                                                                                   monkeypatch):
    # given projected views (SQLite: the shadow tables are SQLite's; PostgreSQL rebuilds in place)
    services = bootstrap(sqlite_url, clock=clock)
    try:
        a_history_with_every_event(services, clock)
        live = every_table(services)
        copied_here = []
        real = parallel._Swap.copy

        def noting(self, scratch, views):
            copied_here.extend(view.name for view in views)
            return real(self, scratch, views)
        monkeypatch.setattr(parallel._Swap, "copy", noting)
        # when the views are rebuilt on two processes (the second a fresh interpreter)
        parallel.rebuild(services, processes=2, min_events=0, fork=False)
        # then this process copied only its own group, the second one's arrived as shadow tables
        # it copied itself, and the swap holds every row live processing built
        views = services.projector.views
        here, there = parallel.split([v.name for v in views], services.projector.head(),
                                     {v.name for v in views if v.sql_replayer() is not None})
        assert sorted(copied_here) == sorted(here) and there
        assert every_table(services) == live
    finally:
        services.close()


def test_a_fork_that_cannot_start_fails_the_rebuild_and_leaves_nothing_open(sqlite_url, clock, monkeypatch):
    # given projected views (SQLite: PostgreSQL rebuilds in place), and a machine that cannot fork
    services = bootstrap(sqlite_url, clock=clock)
    try:
        a_history_with_every_event(services, clock)
        live = every_table(services)

        def cannot(*_args):
            raise OSError(12, "Cannot allocate memory")
        monkeypatch.setattr(os, "fork", cannot)
        open_before = len(os.listdir("/proc/self/fd"))
        # when a rebuild would fork its second process
        with pytest.raises(OSError, match="Cannot allocate memory"):
            parallel.rebuild(services, processes=2, min_events=0, fork=True)
        # then it fails as the fork did, with no pipe left open, no scratch file left behind, and
        # the live views untouched
        assert len(os.listdir("/proc/self/fd")) == open_before
        assert not list(Path(services.projector.engine.url.database or ".").parent.glob("*.rebuild-*"))
        assert every_table(services) == live
    finally:
        services.close()
