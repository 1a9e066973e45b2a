"""Rebuilding read models on both cores (SQLite).

A rebuild replays the whole log into every view: Python work on one core (decode, handlers, row
bookkeeping), with SQLite's writes in between. Two processes cannot share that work in one
views file: each batch holds the file's write lock from its first read to its commit. Instead
the views are split in two groups of about equal cost, and each group is rebuilt from zero into
a scratch file of its own beside the views file (no journal, no syncs: a scratch file is deleted
if anything fails), one by this process and one by a second interpreter, while the live views
keep their rows and the live follower keeps them current. At the end one transaction replaces
both groups' rows in the views file with the scratch files' (``ATTACH`` + ``INSERT ... SELECT``)
together with their tracking positions, so readers see the old rows or the rebuilt ones, never a
mix and never an empty view; the live follower then carries on from those positions.

If the second process fails, its group is rebuilt here too, after the first: the result is the
same, only slower. PostgreSQL, a single view, one CPU or a short log (under 50,000 events, where
starting the second process costs more than it saves): ``Projector.rebuild``, in place.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from commonroom.projections.base import Tracking
from commonroom.projections.runner import Progress, Projector

log = logging.getLogger(__name__)

# What each view costs a replay, in microseconds an event beyond reading and decoding the log
# (a 111.6k-event history replayed into a scratch file one view at a time, the fastest of four
# rounds: expertise 31, attendance 13-14, notifications 6-14, people 5-8, schedule 5, graph 2-5;
# attendance and notifications rounded up, the second process having taken ~1 s longer than this
# one with the measured figures), and what starting the second interpreter costs, in seconds
# (importing the app: 1.1-1.5 s). Only used to split the views into two groups that finish
# together; both scale with the machine.
COST = {"expertise": 30, "attendance": 16, "notifications": 12, "people": 5, "schedule": 5, "graph": 4,
        "mentoring": 1, "trades": 1}
CHILD_START_SECONDS = 1.5

# The second process's command line (its arguments follow).
CHILD = [sys.executable, "-m", "commonroom.platform.rebuild"]


def split(names: Sequence[str], events: int = 1_000_000) -> tuple[list[str], list[str]]:
    """Two groups that take about as long over ``events`` events, the second one counting its
    interpreter's start (heaviest view first, each to the group that would finish sooner)."""
    def seconds(group: list[str], start: float) -> float:
        return start + sum(COST.get(n, 1) for n in group) * events / 1e6

    here: list[str] = []
    there: list[str] = []
    for name in sorted(names, key=lambda n: (-COST.get(n, 1), n)):
        (here if seconds(here, 0) <= seconds(there, CHILD_START_SECONDS) else there).append(name)
    if not there and len(here) > 1:  # (a short log: the start outweighs every view) still two
        there.append(here.pop())
    return here, there


# Below this many events one process is quicker: the second one spends about a second starting
# (a fresh interpreter importing the app) and the swap copies its rows again.
PARALLEL_FROM_EVENTS = 50_000


def rebuild(app, names: Sequence[str] | None = None, progress: Progress | None = None,
            processes: int | None = None, min_events: int = PARALLEL_FROM_EVENTS) -> int:
    """Rebuild the named views (all by default) by replaying the log; return how many
    notifications this process read. On SQLite, with a second CPU and at least ``min_events``
    events, into scratch files on both cores, swapped in at the end (the live views keep their
    rows meanwhile); otherwise in place (``Projector.rebuild``: emptied, then refilled)."""
    from commonroom.platform.bootstrap import is_sqlite

    projector: Projector = app.projector
    chosen = list(names) if names else [v.name for v in projector.views]
    processes = processes if processes is not None else min(2, os.cpu_count() or 1)
    if (processes < 2 or len(chosen) < 2 or not is_sqlite(app.database_url)
            or projector.head() < min_events):
        return projector.rebuild(chosen, progress=progress)
    here, there = split(chosen, projector.head())
    scratches = [_scratch_path(projector, part) for part in ("here", "there")]
    _remove(*scratches)
    # A fresh interpreter (not multiprocessing's spawn, which re-imports the caller's __main__).
    child = subprocess.Popen([*CHILD, app.database_url, str(scratches[1]), ",".join(there)])
    try:
        read = rebuild_into(app.database_url, str(scratches[0]), here, progress=progress, store=app.store)
        if child.wait() != 0:
            log.warning("the second rebuild process failed (exit %s): rebuilding %s here", child.returncode, there)
            _remove(scratches[1])
            read = max(read, rebuild_into(app.database_url, str(scratches[1]), there, progress=progress,
                                          store=app.store))
        _swap_in(projector, [(scratches[0], [projector.view(n) for n in here]),
                             (scratches[1], [projector.view(n) for n in there])])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        _remove(*scratches)
    projector.forget_reached()
    return read


def _remove(*scratches: Path) -> None:
    for scratch in scratches:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)


def _scratch_path(projector: Projector, part: str) -> Path:
    views_file = Path(projector.engine.url.database)
    return views_file.with_name(f"{views_file.stem}.rebuild-{os.getpid()}-{part}{views_file.suffix}")


def rebuild_into(database_url: str, scratch: str, names: Sequence[str], progress: Progress | None = None,
                 store=None) -> int:
    """Rebuild ``names`` from the events of ``database_url`` into the empty file ``scratch``;
    return how many notifications were read. ``store``: this process's own event store (the
    second process opens one)."""
    from commonroom.platform.bootstrap import all_views, make_engine
    from commonroom.platform.eventstore import EventStore

    own_store = store is None
    store = EventStore(database_url) if own_store else store
    engine = make_engine(f"sqlite:///{scratch}", immediate=True)

    @sa.event.listens_for(engine, "connect")
    def _scratch(dbapi_connection, _record) -> None:
        # A scratch file, deleted if anything fails: no journal, no syncs (the swap's transaction
        # in the views file is what must be atomic). After make_engine's own settings.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()
    try:
        views = [view for view in all_views() if view.name in set(names)]
        projector = Projector(engine, store.recorder, store.mapper, views)
        tables = [Tracking.__table__, *(model.__table__ for view in views for model in view.tables)]
        with engine.begin() as conn:  # the tables without their indexes (see Projector.replay)
            for table in tables:
                conn.execute(sa.schema.CreateTable(table, if_not_exists=True))

        def make_indexes(conn: sa.Connection) -> None:
            for table in tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)
        return projector.replay(progress=progress, indexes=make_indexes)
    finally:
        engine.dispose()
        if own_store:
            store.close()


# Tables a rebuild makes in the views file beside the live ones: its rebuilt rows waiting for the
# swap (<table>__rebuilt_<pid>) and the live rows it swapped out, to be dropped (<table>__retired_<pid>).
SHADOW, RETIRED = "__rebuilt_", "__retired_"


def _shadow_name(table: str) -> str:
    return f"{table}{SHADOW}{os.getpid()}"


def _retired_name(table: str) -> str:
    return f"{table}{RETIRED}{os.getpid()}"


def _drop_leftovers(cursor, pids: set[int] | None = None) -> None:
    """Drop the shadow and retired tables (and with them their indexes) that this process made
    (``pids`` given), or that processes no longer running left behind (a rebuild killed during
    its copy), each in a transaction of its own."""
    names = [row[0] for marker in (SHADOW, RETIRED) for row in cursor.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '!'",
        (f"%{marker.replace('_', '!_')}%",))]
    for name in names:
        pid = re.split(f"{SHADOW}|{RETIRED}", name)[-1]
        if not pid.isdigit():
            continue
        if pids is not None:
            if int(pid) not in pids:
                continue
        elif _running(int(pid)):
            continue
        _in_a_transaction(cursor, [f'DROP TABLE IF EXISTS main."{name}"'])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _index_names(cursor) -> set[str]:
    return {row[0] for row in cursor.execute("SELECT name FROM main.sqlite_master WHERE type = 'index'")}


def _shadow_ddl(model, shadow: str, taken: set[str]) -> tuple[str, list[str]]:
    """``CREATE TABLE`` for the shadow of ``model``'s table (the model's columns, in the model's
    order: the scratch file's tables were made from the same models) and ``CREATE INDEX`` for each
    of the model's indexes on it, named so as not to clash with the live table's, which stand until
    the swap: an index keeps the name it was made with when its table is renamed, and SQLite cannot
    rename an index, so the names alternate between the model's own and the model's own + ``_r``."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    copy = model.__table__.to_metadata(sa.MetaData(), name=shadow)
    copy.indexes.clear()  # (a copy names its indexes after the shadow: made below instead)
    create = str(sa.schema.CreateTable(copy).compile(dialect=sqlite_dialect.dialect())).strip()
    indexes = []
    for index in sorted(model.__table__.indexes, key=lambda i: i.name):
        name = f"{index.name}_r" if index.name in taken else index.name
        columns = ", ".join(f'"{column.name}"' for column in index.columns)
        indexes.append(f'CREATE {"UNIQUE " if index.unique else ""}INDEX main."{name}" ON "{shadow}" ({columns})')
    return create, indexes


def _swap_in(projector: Projector, parts: Sequence[tuple[Path, Sequence]]) -> None:
    """Replace each part's views' rows and tracking in the views file by its scratch file's.

    The rows are copied first, into a shadow table per view table (``<table>__rebuilt_<pid>``),
    and its indexes made, one short transaction per table and per index, so the live follower's
    batches go on between them (when the copy and the indexes were one transaction, 1.12M events'
    rows held the views file's write lock for 8-12 s). Then one transaction renames the live tables
    out (``<table>__retired_<pid>``) and the shadows in, and sets the views' tracking positions:
    readers see the old rows or the rebuilt ones, never a mix and never an empty view. The
    swapped-out tables are dropped after it, one a transaction."""
    raw = projector.engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            _drop_leftovers(cursor)  # left behind by a rebuild that did not finish
            positions = _copy_in(cursor, parts)
            tables = [model.__tablename__ for _, views in parts for view in views for model in view.tables]
            cursor.execute("BEGIN IMMEDIATE")
            try:
                live = {row[0] for row in cursor.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
                for name in tables:
                    # renames only: dropping a large table frees its every page, which took longer
                    # than the copy (talk_versions at 1.12M events: 0.6 s, and 1.2 s to commit)
                    if name in live:
                        cursor.execute(f'ALTER TABLE main."{name}" RENAME TO "{_retired_name(name)}"')
                    cursor.execute(f'ALTER TABLE main."{_shadow_name(name)}" RENAME TO "{name}"')
                for view, position in positions:
                    cursor.execute(f"UPDATE main.{Tracking.__tablename__} SET position = ? WHERE name = ?",
                                   (position, view))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            # the swapped-out tables (or, if anything failed, this rebuild's shadows)
            _drop_leftovers(cursor, {os.getpid()})
            cursor.close()
    finally:
        raw.close()


def _copy_in(cursor, parts: Sequence[tuple[Path, Sequence]]) -> list[tuple[str, int]]:
    """Copy every table of the parts' views from their scratch files into shadow tables in the
    views file, with their indexes; return each view's position in its scratch file."""
    schemas = [f"rebuilt{i}" for i in range(len(parts))]
    for schema, (scratch, _views) in zip(schemas, parts):
        cursor.execute(f"ATTACH DATABASE ? AS {schema}", (str(scratch),))
    try:
        taken = _index_names(cursor)
        for schema, (_, views) in zip(schemas, parts):
            for model in (model for view in views for model in view.tables):
                name, shadow = model.__tablename__, _shadow_name(model.__tablename__)
                create, indexes = _shadow_ddl(model, shadow, taken)
                # same columns, empty target without indexes: SQLite copies the records as they
                # are, without decoding them (its "transfer optimisation"); then each index from
                # the sorted rows at once rather than row by row
                _in_a_transaction(cursor, [f'DROP TABLE IF EXISTS main."{shadow}"',
                                           create.replace("CREATE TABLE ", "CREATE TABLE main.", 1),
                                           f'INSERT INTO main."{shadow}" SELECT * FROM {schema}."{name}"'])
                for sql in indexes:
                    _in_a_transaction(cursor, [sql])
        tracking = Tracking.__tablename__
        return [(view.name, cursor.execute(f"SELECT position FROM {schema}.{tracking} WHERE name = ?",
                                           (view.name,)).fetchone()[0])
                for schema, (_, views) in zip(schemas, parts) for view in views]
    finally:
        for schema in schemas:
            cursor.execute(f"DETACH DATABASE {schema}")


def _in_a_transaction(cursor, statements: Sequence[str]) -> None:
    cursor.execute("BEGIN IMMEDIATE")
    try:
        for sql in statements:
            cursor.execute(sql)
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


if __name__ == "__main__":  # the second process: database URL, scratch file, view names
    rebuild_into(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
