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


def _in_main(create_index: str) -> str:
    """``CREATE [UNIQUE] INDEX name ON ...`` as stored in sqlite_master, made explicit about the
    schema (the scratch file, attached beside it, holds an index of the same name)."""
    return re.sub(r"^(\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+)(?!main\.)", r"\1main.", create_index, count=1,
                  flags=re.IGNORECASE)


def _same_columns(cursor, schema: str, table: str) -> bool:
    """Whether ``table`` has the same columns, in the same order, types and constraints, in the
    views file and in the attached scratch file (``SELECT *`` then copies it column for column)."""
    return (cursor.execute(f'PRAGMA main.table_info("{table}")').fetchall()
            == cursor.execute(f'PRAGMA {schema}.table_info("{table}")').fetchall())


def _swap_in(projector: Projector, parts: Sequence[tuple[Path, Sequence]]) -> None:
    """Replace each part's views' rows and tracking in the views file by its scratch file's, all
    in one transaction (the write lock, as a projection batch takes it)."""
    raw = projector.engine.raw_connection()
    try:
        cursor = raw.cursor()
        schemas = [f"rebuilt{i}" for i in range(len(parts))]
        for schema, (scratch, _views) in zip(schemas, parts):
            cursor.execute(f"ATTACH DATABASE ? AS {schema}", (str(scratch),))
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                tables = [(schema, table) for schema, (_, views) in zip(schemas, parts)
                          for view in views for table in view.tables]
                # The tables' own indexes are dropped for the copy and made again after it, in the
                # same transaction: building an index once from sorted rows is cheaper than keeping
                # it up to date row by row (1.12M events: the copy of one group, which holds the
                # views file's write lock, 6.6 -> 3.6 s). Primary keys stay (no SQL to re-run).
                names = [model.__tablename__ for _, model in tables]
                indexes = cursor.execute(
                    "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    f"AND tbl_name IN ({', '.join('?' for _ in names)})", names).fetchall()
                for index, _sql in indexes:
                    cursor.execute(f'DROP INDEX main."{index}"')
                for _, model in reversed(tables):
                    cursor.execute(f'DELETE FROM main."{model.__tablename__}"')
                for schema, model in tables:
                    name = model.__tablename__
                    if _same_columns(cursor, schema, name):
                        # SQLite copies the records as they are, without decoding them (its
                        # "transfer optimisation": same columns, empty target without indexes)
                        cursor.execute(f'INSERT INTO main."{name}" SELECT * FROM {schema}."{name}"')
                    else:  # a views file made by an older version: by name
                        columns = ", ".join(f'"{c.name}"' for c in model.__table__.columns)
                        cursor.execute(f'INSERT INTO main."{name}" ({columns}) SELECT {columns} FROM {schema}."{name}"')
                for _index, sql in indexes:
                    cursor.execute(_in_main(sql))
                tracking = Tracking.__tablename__
                for schema, (_, views) in zip(schemas, parts):
                    for view in views:
                        cursor.execute(f"UPDATE main.{tracking} SET position = (SELECT position FROM "
                                       f"{schema}.{tracking} WHERE name = ?) WHERE name = ?", (view.name, view.name))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            for schema in schemas:
                cursor.execute(f"DETACH DATABASE {schema}")
            cursor.close()
    finally:
        raw.close()


if __name__ == "__main__":  # the second process: database URL, scratch file, view names
    rebuild_into(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
