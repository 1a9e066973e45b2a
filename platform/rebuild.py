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

# Relative cost of each view in a rebuild (measured: a 111k-event history rebuilt one view group
# at a time). Only used to split the views into two groups of about equal cost.
COST = {"expertise": 5, "attendance": 2.5, "notifications": 1.5, "graph": 1, "schedule": 1, "people": 0.5,
        "trades": 0.3, "mentoring": 0.3}

# The second process's command line (its arguments follow).
CHILD = [sys.executable, "-m", "commonroom.platform.rebuild"]


def split(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Two groups of about equal cost (heaviest first, each to the lighter group)."""
    def cost(group: list[str]) -> float:
        return sum(COST.get(n, 1) for n in group)

    here: list[str] = []
    there: list[str] = []
    for name in sorted(names, key=lambda n: (-COST.get(n, 1), n)):
        (here if cost(here) <= cost(there) else there).append(name)
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
    here, there = split(chosen)
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
        projector.setup()
        return projector.replay(progress=progress)
    finally:
        engine.dispose()
        if own_store:
            store.close()


def _in_main(create_index: str) -> str:
    """``CREATE [UNIQUE] INDEX name ON ...`` as stored in sqlite_master, made explicit about the
    schema (the scratch file, attached beside it, holds an index of the same name)."""
    return re.sub(r"^(\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+)(?!main\.)", r"\1main.", create_index, count=1,
                  flags=re.IGNORECASE)


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
                    columns = ", ".join(f'"{c.name}"' for c in model.__table__.columns)
                    name = model.__tablename__
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
