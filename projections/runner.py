"""Runs read models over the event log, exactly once.

Each batch of notifications is decoded once and applied to every view that has not yet seen it;
the view rows and the views' tracking positions are written in one transaction that first locks
the tracking rows (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite). Two
runners (threads or processes) therefore never apply the same event twice, and a crash between
batches loses nothing: the next run starts from the committed position.

Views with ``batched = True`` work on the batch's rows in memory (``base.Rows``): one query per
table to read what the batch touches, one executemany per table for each of inserts, updates and
deletes. Others get the ORM session, as before. A rebuild reads in larger batches
(``rebuild_batch_size``) than a live catch-up, which usually finds one or a few new events.

The runner remembers the position it last saw every view reach, so an idle ``catch_up()`` is one
query (are there notifications after it?). That is only where reading starts: what to apply is
decided from the tracking rows read under the lock, and a view found behind the start (rebuilt by
another process) makes the runner go back for it.
"""

from __future__ import annotations

import gc
import inspect
import threading
from contextlib import contextmanager, nullcontext
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from commonroom.projections import sqlreplay
from commonroom.projections.base import (
    Base, Projection, Replayer, Rows, Runnable, Tracking, one_of, remembering_datetimes, write_rows,
)

Progress = Callable[[int, int], None]  # (position reached, head of the log)


@dataclass(frozen=True)
class ViewStatus:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


def _dispatcher(view: Projection) -> Callable[[type], Callable | None] | None:
    """The view's handler for an event type (``None``: not one it handles), each type looked up
    once (calling a ``singledispatchmethod`` binds and dispatches on every call; most events are
    not for most views). ``None`` for a ``handle`` that is not a ``singledispatchmethod``: it gets
    every event."""
    method = inspect.getattr_static(type(view), "handle")
    if not isinstance(method, singledispatchmethod):
        return None
    dispatch = method.dispatcher.dispatch
    ignored, found = dispatch(object), {}

    def handler(kind: type) -> Callable | None:
        try:
            return found[kind]
        except KeyError:
            chosen = dispatch(kind)
            found[kind] = chosen = None if chosen is ignored else chosen
            return chosen
    return handler


def _leaving_out(dispatcher: Callable[[type], Callable | None] | None, replayer: Replayer | None
                 ) -> Callable[[type], Callable | None] | None:
    """``dispatcher`` without the event types a partial ``replayer`` takes."""
    if replayer is None:
        return dispatcher
    if dispatcher is None:
        raise TypeError("a partial replayer needs its view's handle to be a singledispatchmethod")
    return lambda kind: None if replayer.takes(kind) else dispatcher(kind)


def _handled(views: Sequence[Projection], dispatchers: Sequence, events: list[tuple[int, object]]
             ) -> list[list[tuple[Callable, object]]]:
    """``(handler, event)`` per view for each event it has a handler for, in log order: one pass
    over the batch for all views together, the views handling each event type found once."""
    todo: list[list[tuple[Callable, object]]] = [[] for _ in views]
    every = [(todo[i], type(view).handle) for i, (view, d) in enumerate(zip(views, dispatchers)) if d is None]
    by_kind: dict[type, list[tuple[list, Callable]]] = {}
    for _, event in events:
        kind = type(event)
        targets = by_kind.get(kind)
        if targets is None:
            targets = by_kind[kind] = every + [
                (todo[i], handler) for i, d in enumerate(dispatchers)
                if d is not None and (handler := d(kind)) is not None]
        for chosen, handler in targets:
            chosen.append((handler, event))
    return todo


def _reconcile_tables(conn: sa.Connection, views: Sequence[Projection]) -> list[str]:
    """``Projector.setup``'s comparison of the database's tables with the views' models: the
    names of the views to empty (their tables dropped here); indexes fixed in place. Columns are
    compared by name, indexes by their columns (a rebuild's swap renames them, see
    ``platform.rebuild``)."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    positions: dict[str, int] = {}
    if Tracking.__tablename__ in present:
        positions = dict(conn.execute(sa.select(Tracking.name, Tracking.position)).all())
    changed = []
    for view in views:
        reset = False
        drops: list[str] = []
        creates: list[sa.Index] = []
        for model in view.tables:
            table = model.__table__
            if table.name not in present:
                reset = reset or positions.get(view.name, 0) > 0
                continue
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            key = set(inspector.get_pk_constraint(table.name)["constrained_columns"] or ())
            if columns != {c.name for c in table.columns} or key != {c.name for c in table.primary_key.columns}:
                reset = True
                continue
            found = {(tuple(index["column_names"]), bool(index["unique"])): index["name"]
                     for index in inspector.get_indexes(table.name)
                     if not index.get("duplicates_constraint")}  # (PostgreSQL: a unique constraint's)
            wanted = {(tuple(c.name for c in index.columns), bool(index.unique)): index for index in table.indexes}
            drops += [name for shape, name in found.items() if shape not in wanted]
            creates += [index for shape, index in wanted.items() if shape not in found]
        if reset:
            changed.append(view.name)
            for model in reversed(view.tables):
                model.__table__.drop(conn, checkfirst=True)
            continue
        for name in drops:
            conn.execute(sa.text(f'DROP INDEX "{name}"'))
        for index in creates:
            index.create(conn)
    return changed


# Batches this large (a rebuild's, a backlog's) run with the cycle collector paused.
PAUSE_COLLECTOR_FROM = 500


@contextmanager
def collector_paused():
    """Python's cycle collector off for the block: a replay holds hundreds of thousands of rows,
    and each full collection walked all of them (5% of a rebuild's instructions, callgrind, with
    the rows of one batch; more with a replay's). Rows and events hold no cycles: what the block
    frees, reference counting frees."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Projector:
    def __init__(self, engine: sa.Engine, recorder, mapper, views: Sequence[Projection],
                 batch_size: int = 1000, read_engine: sa.Engine | None = None,
                 rebuild_batch_size: int = 5000,
                 read_events: Callable[[int, int], list[tuple[int, Any]]] | None = None) -> None:
        self.engine, self.recorder, self.mapper = engine, recorder, mapper
        # (start, limit) -> [(notification id, domain event)]: the event store's ``read_events``,
        # or the recorder's notifications decoded by the mapper
        self.read_events = read_events or self._select_and_decode
        # Reading positions must not take the write lock (SQLite's write engine begins IMMEDIATE).
        self.read_engine = read_engine or engine
        self.views = list(views)
        self.batch_size, self.rebuild_batch_size = batch_size, rebuild_batch_size
        self._reached: int | None = None  # every view was at least here when last looked (a hint)
        self._dispatchers: dict[Projection, Callable | None] = {}
        self._lock = threading.Lock()
        self._advanced = threading.Condition()
        self._statements: dict[str, Runnable] = {}  # dialect name -> the positions' SELECT
        self._moves: dict[tuple, Runnable] = {}  # (dialect name, views moved) -> their UPDATE

    def _select_and_decode(self, start: int, limit: int) -> list[tuple[int, Any]]:
        return [(n.id, self.mapper.to_domain_event(n))
                for n in self.recorder.select_notifications(start=start, limit=limit)]

    def _dispatcher(self, view: Projection):
        if view not in self._dispatchers:
            self._dispatchers[view] = _dispatcher(view)
        return self._dispatchers[view]

    # --- set-up and status ----------------------------------------------------------------------
    def setup(self) -> list[str]:
        """Make missing tables and tracking rows. Return the names of the views whose tables no
        longer have the columns or primary key their models have (made by another version of the
        code), or lack a table while the view has read events: their tables are dropped and made
        again, empty, and their positions set to 0, for the caller to rebuild them (``create_all``
        alone would leave such a table as it was, and the view would then fail, or be silently
        missing rows). An index that differs is made or dropped in place: it holds no data."""
        with self.engine.begin() as conn:
            changed = _reconcile_tables(conn, self.views)
        Base.metadata.create_all(self.engine)
        with Session(self.engine) as s, s.begin():
            known = set(s.scalars(sa.select(Tracking.name)))
            for view in self.views:
                if view.name not in known:
                    s.add(Tracking(name=view.name, position=0))
            if changed:
                s.execute(sa.update(Tracking).where(Tracking.name.in_(changed)).values(position=0))
        if changed:
            self.forget_reached()
        return changed

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def positions(self) -> dict[str, int]:
        with self.read_engine.connect() as c:
            rows = c.execute(sa.select(Tracking.name, Tracking.position)).all()
        found = dict(rows)
        return {v.name: found.get(v.name, 0) for v in self.views}

    def status(self) -> list[ViewStatus]:
        head = self.head()
        return [ViewStatus(name, position, head) for name, position in self.positions().items()]

    def has_reached(self, position: int) -> bool:
        """True when this runner has seen every view reach ``position`` (no query: positions only
        move forward, so a position once reached stays reached; False just means "go and look")."""
        reached = self._reached
        return reached is not None and reached >= position

    def forget_reached(self) -> None:
        """Drop the remembered position (views were rebuilt by another runner): the next catch-up
        and ``has_reached`` read the tracking rows again."""
        with self._lock:
            self._reached = None

    def view(self, name: str) -> Projection:
        for view in self.views:
            if view.name == name:
                return view
        raise KeyError(f"no view called {name!r} (there are: {', '.join(v.name for v in self.views)})")

    # --- processing -----------------------------------------------------------------------------
    def catch_up(self, progress: Progress | None = None, until: int | None = None,
                 batch_size: int | None = None) -> int:
        """Apply every event not yet applied; return how many notifications were read."""
        size = batch_size or self.batch_size
        read = 0
        with self._lock:
            if self._reached is None:
                self._reached = min(self.positions().values(), default=0)
            while until is None or self._reached < until:
                start = self._reached
                events = self.read_events(start + 1, size)
                if not events:
                    break
                with collector_paused() if len(events) >= PAUSE_COLLECTOR_FROM else nullcontext():
                    last_id = events[-1][0]
                    self._reached = self._apply(events, start, last_id)
                read += len(events)
                if progress is not None:
                    progress(last_id, self.head())
                with self._advanced:
                    self._advanced.notify_all()
                if len(events) < size and self._reached >= last_id:
                    break
        return read

    def _positions_locked(self, dialect: sa.Dialect) -> Runnable:
        """This runner's views' positions, locked (``FOR UPDATE``; on SQLite the batch's BEGIN
        IMMEDIATE locks), compiled once and run on the DB-API cursor like the views' reads
        (``base.Runnable``)."""
        found = self._statements.get(dialect.name)
        if found is None:
            tracking = Tracking.__table__
            select = sa.select(tracking.c.name, tracking.c.position).where(
                one_of(tracking.c.name, [v.name for v in self.views])).with_for_update()
            found = self._statements[dialect.name] = Runnable(
                select, dialect, [tracking.c.name.type, tracking.c.position.type])
        return found

    def _apply(self, events: list[tuple[int, object]], start: int, last_id: int) -> int:
        """Apply the batch (every notification after ``start`` up to ``last_id``) to every view it
        is next for; return the lowest position afterwards."""
        tracking = Tracking.__table__
        with self.engine.begin() as conn:
            tracked = dict(self._positions_locked(conn.dialect).rows(conn))
            missing = [{"name": v.name, "position": 0} for v in self.views if v.name not in tracked]
            if missing:
                conn.execute(sa.insert(tracking), missing)
                tracked.update((m["name"], 0) for m in missing)
            session: Session | None = None  # for views that are not batched (the ORM interface)
            due = [view for view in self.views if start <= tracked[view.name] < last_id]
            # (the others: another runner got here first, or the view is behind this batch)
            whole = [view for view in due if tracked[view.name] == start]
            todos = dict(zip(whole, _handled(whole, [self._dispatcher(v) for v in whole], events)))
            moved = []
            for view in due:
                todo = todos.get(view)
                if todo is None:  # part of the batch was applied to it already
                    position = tracked[view.name]
                    [todo] = _handled([view], [self._dispatcher(view)], [(n, e) for n, e in events if n > position])
                if view.batched:
                    # nothing applied yet (rows and position move together): its tables are most
                    # likely empty, and then the batch need not read them (checked, not assumed)
                    rows = Rows(conn, Rows.empty_tables(conn, view.tables) if tracked[view.name] == 0 else ())
                    view.prefetch([event for _, event in todo], rows)
                    for handler, event in todo:
                        handler(view, event, rows)
                    rows.flush()
                else:
                    if session is None:
                        session = Session(bind=conn)
                    for handler, event in todo:
                        handler(view, event, session)
                    session.flush()  # so views after this one read what it wrote
                moved.append(view.name)
                tracked[view.name] = last_id
            if session is not None:
                session.close()
            if moved:
                self._move(conn, moved, last_id)
        return min(tracked.values(), default=last_id)

    def _move(self, conn: sa.Connection, moved: list[str], position: int) -> None:
        tracking = Tracking.__table__
        key = (conn.dialect.name, tuple(moved))
        update = self._moves.get(key)
        if update is None:
            if len(self._moves) > 64:
                self._moves.clear()
            update = self._moves[key] = Runnable(
                sa.update(tracking).where(one_of(tracking.c.name, moved)).values(position=sa.bindparam("position")),
                conn.dialect)
        update.run(conn, {"position": position})

    # A rebuild of a log up to this long is one transaction (``replay(atomic=True)``): readers see
    # the old rows until it commits, and the rows it builds are held in memory until then (~1 kB
    # a row, one or two rows an event).
    ATOMIC_REBUILD_UP_TO = 100_000

    def rebuild(self, names: Iterable[str] | None = None, progress: Progress | None = None) -> int:
        """Empty the named views (all by default) and replay the whole log into them.

        Up to ``ATOMIC_REBUILD_UP_TO`` events, with batched views: in one transaction
        (``replay(atomic=True)``), so readers see the old rows until the new ones are all there,
        and the live followers wait for it. Longer logs: emptied in one transaction, then filled
        batch by batch as the followers fill them (``catch_up``), sharing the work with them."""
        chosen = [self.view(n) for n in names] if names else self.views
        if all(view.batched for view in chosen) and self.head() <= self.ATOMIC_REBUILD_UP_TO:
            return self.replay(progress=progress, names=[view.name for view in chosen], atomic=True)
        with self._lock, Session(self.engine) as s, s.begin():
            s.scalars(sa.select(Tracking).with_for_update()).all()
            for view in chosen:
                view.reset(s)
                s.merge(Tracking(name=view.name, position=0))
            self._reached = None
        return self.catch_up(progress=progress, batch_size=self.rebuild_batch_size)

    def replay(self, progress: Progress | None = None, hold_rows: int = 250_000, indexes: Callable | None = None,
               names: Sequence[str] | None = None, atomic: bool = False, log: sqlreplay.Log | None = None) -> int:
        """Empty the named views (every view by default) and replay the whole log into them;
        return how many notifications were read. Either for views nobody else reads or writes
        meanwhile (a rebuild's scratch file, ``platform.rebuild``), or ``atomic``: everything in
        one transaction that first locks the views' positions (``FOR UPDATE``; SQLite's BEGIN
        IMMEDIATE), so live followers wait for it and readers see the old rows until it commits
        (``rebuild`` of a short log).

        Batch by batch, as ``catch_up`` does, but each view keeps its rows in memory from one batch
        to the next and writes them out (with the views' positions, in one transaction) only when
        the views hold more than ``hold_rows`` rows (never when ``atomic``), and at the end. While
        nothing has been written yet, the views' tables are known to be empty: no batch reads
        anything, no ``prefetch`` is needed, and every row is written once, as an insert, however
        many events changed it. The handlers are the same; the rows are the same as live
        processing's (tested).

        A view with a ``Replayer`` (``Projection.replayer``) is fed every batch instead and its
        rows, with its position, are written in the last transaction.

        ``indexes(connection)``: called once after the first rows are written, if more are to come,
        in their transaction (a scratch file is made without its tables' indexes, which only later
        segments' reads need: one sort per index instead of an insert into it per row).

        ``log``: the event log, readable on this engine's connections in SQL (a scratch file with
        the log ATTACHed, ``platform.rebuild``). When every view here that handles the seat events
        has a ``SqlReplayer`` (``Projection.sql_replayer``), the replay reads the log up to its
        head as the replay began (or ``log.upto``) without those events, and those replayers make
        their rows from them in SQL at the end (``projections.sqlreplay``)."""
        views = [self.view(n) for n in names] if names else self.views
        names = [v.name for v in views]
        for view in views:
            if not view.batched:
                raise TypeError(f"{view.name}: replay() needs batched views")
        tracking = Tracking.__table__
        with self._lock, collector_paused(), remembering_datetimes(hold_rows), self.engine.connect() as conn:
            conn.begin()
            if atomic:  # the followers' batches wait for this transaction
                self._positions_locked(conn.dialect).rows(conn)
            conn.execute(sa.delete(tracking).where(tracking.c.name.in_(names)))
            conn.execute(sa.insert(tracking), [{"name": name, "position": 0} for name in names])
            for view in views:
                with Session(bind=conn) as session:
                    view.reset(session)
                    session.flush()
            if not atomic:
                conn.commit()
            self._reached = None
            # views with a Replayer of their own build their rows there, written at the end (their
            # positions too); the others through their handlers, segment by segment
            # (a partial replayer takes some of its view's events, the handlers the rest: that
            # view's position, like a replayer's, moves only at the end)
            replayer_of = {view: view.replayer() for view in views}
            read_events, upto, by_sql = self.read_events, None, self._sql_replayers(views, log)
            if by_sql is not None:  # the seat events: in SQL, or for no view here
                upto = log.upto if log.upto is not None else self.head()
                left_out = sqlreplay.topics(sqlreplay.SEATS)
                read_events = lambda start, limit: log.read_events(start, limit, upto, left_out)  # noqa: E731
                replayer_of.update(by_sql)
                progress = sqlreplay.Phases(progress, upto, len(by_sql)) if progress is not None else None
            replayers = [replayer for replayer in replayer_of.values() if replayer is not None]
            handled = [view for view, replayer in replayer_of.items() if replayer is None or replayer.partial]
            segmented = [view.name for view in handled if replayer_of[view] is None]
            dispatchers = [_leaving_out(self._dispatcher(v), replayer_of[v]) for v in handled]
            read = position = 0
            held: dict[Projection, Rows] = {}
            written = False  # once a segment is written, later ones read what they touch
            finished = False  # the last write_out (replayers' rows, every position) is done

            def write_out(more: bool) -> None:
                nonlocal held, written, finished, read
                for rows in held.values():
                    rows.flush()
                if not more:
                    for replayer in replayers:
                        for model, built in replayer.tables():
                            write_rows(conn, model, built)
                    if by_sql is not None:  # after every other row: the schedule's counts go into its talks' rows
                        for done, replayer in enumerate(by_sql.values(), 1):
                            replayer.sql(conn, log, upto)
                            if progress is not None:
                                progress.in_sql(done)
                        read += sqlreplay.forget(conn, log, upto)  # (the seat events: read in SQL or left out)
                moved = segmented if more else names
                if moved:
                    self._move(conn, moved, upto if by_sql is not None and not more else position)
                if more and not written and indexes is not None:
                    indexes(conn)
                conn.commit()
                held, written, finished = {}, True, not more

            while True:
                events = read_events(position + 1, self.rebuild_batch_size)
                if not events:
                    break
                if not conn.in_transaction():
                    conn.begin()
                if replayers:
                    in_order = [event for _, event in events]
                    for replayer in replayers:
                        replayer.feed(in_order)
                for view, todo in zip(handled, _handled(handled, dispatchers, events)):
                    rows = held.get(view)
                    if rows is None:
                        rows = held[view] = Rows(conn, () if written else view.tables)
                    if written:
                        view.prefetch([event for _, event in todo], rows)
                    for handler, event in todo:
                        handler(view, event, rows)
                position = events[-1][0]
                read += len(events)
                last = len(events) < self.rebuild_batch_size
                if last or (not atomic and sum(rows.held() for rows in held.values()) > hold_rows):
                    write_out(more=not last)
                if progress is not None:
                    progress(position, self.head())
                if last:
                    break
            if (read or by_sql is not None) and not finished:  # the log ended on a full batch (or was all seats)
                if not conn.in_transaction():
                    conn.begin()
                write_out(more=False)
            if conn.in_transaction():  # (an empty log: the emptied views)
                conn.commit()
            if by_sql is not None:
                position = upto
            self._reached = position if len(views) == len(self.views) else None
        return read

    def _sql_replayers(self, views: Sequence[Projection], log: sqlreplay.Log | None
                       ) -> dict[Projection, Replayer] | None:
        """The ``SqlReplayer`` of every view here that handles a seat event (none: no view here
        does), when all of them have one and the log can be read that way (``replay``'s ``log``);
        ``None`` otherwise (the seat events are then decoded as every other event is)."""
        if log is None or not sqlreplay.usable():
            return None
        chosen = {}
        for view in views:
            dispatcher = self._dispatcher(view)
            if dispatcher is not None and all(dispatcher(kind) is None for kind in sqlreplay.SEATS):
                continue
            replayer = view.sql_replayer()
            if replayer is None:
                return None
            chosen[view] = replayer
        return chosen

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Block until every view has reached ``position`` (for workers that do not project inline)."""
        deadline = time.monotonic() + timeout
        delay = 0.002
        while not self.has_reached(position) and min(self.positions().values(), default=0) < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._advanced:
                self._advanced.wait(min(delay, remaining))
            delay = min(delay * 2, 0.05)
        return True
