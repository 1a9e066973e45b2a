"""Rebuilding read models on both cores (SQLite).

A rebuild replays the whole log into every view: Python work on one core (decode, handlers, row
bookkeeping), with SQLite's writes in between. Two processes cannot share that work in one
views file: each batch holds the file's write lock from its first read to its commit. Instead
the views are split in two groups of about equal cost:

- this process rebuilds the first group in place, as ``Projector.rebuild`` always did (emptied at
  the start, filled batch by batch, each batch exactly once with its tracking);
- a second process rebuilds the other group from zero into a scratch file beside the views file,
  while the old rows of that group stay readable in the views file;
- at the end, one transaction replaces the group's rows in the views file with the scratch file's
  (``ATTACH`` + ``INSERT ... SELECT``) together with its tracking positions, so readers see the old
  rows or the rebuilt ones, never a mix. The live follower then carries on from those positions.

If the second process fails, its group is rebuilt here, serially: the result is the same, only
slower. PostgreSQL, a single view, one CPU or a short log (under 50,000 events, where starting
the second process costs more than it saves): ``Projector.rebuild``, unchanged.
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


# The second process writes into a scratch file with no journal and no syncs (it is thrown away
# if anything fails), so the same views cost it less: at 1.12M events 5.85 s per unit of COST
# against 7.8 s here, in the live views file.
SCRATCH_SPEED = 0.75


def split(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Two groups that should take about as long (heaviest first, each to the group that would
    finish first, the second process's costs scaled by ``SCRATCH_SPEED``)."""
    def cost(group: list[str]) -> float:
        return sum(COST.get(n, 1) for n in group)

    here: list[str] = []
    there: list[str] = []
    for name in sorted(names, key=lambda n: (-COST.get(n, 1), n)):
        (here if cost(here) <= cost(there) * SCRATCH_SPEED else there).append(name)
    return here, there


# Below this many events one process is quicker: the second one spends about a second starting
# (a fresh interpreter importing the app) and the swap copies its rows again.
PARALLEL_FROM_EVENTS = 50_000


def rebuild(app, names: Sequence[str] | None = None, progress: Progress | None = None,
            processes: int | None = None, min_events: int = PARALLEL_FROM_EVENTS) -> int:
    """Empty the named views (all by default) and replay the log into them; return how many
    notifications this process read. Uses a second process on SQLite when there is a second CPU
    and at least ``min_events`` events."""
    from commonroom.platform.bootstrap import is_sqlite
    from commonroom.platform.worker import group_projector

    projector: Projector = app.projector
    chosen = list(names) if names else [v.name for v in projector.views]
    processes = processes if processes is not None else min(2, os.cpu_count() or 1)
    if (processes < 2 or len(chosen) < 2 or not is_sqlite(app.database_url)
            or projector.head() < min_events):
        return projector.rebuild(chosen, progress=progress)
    here, there = split(chosen)
    scratch = _scratch_path(projector)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    # A fresh interpreter (not multiprocessing's spawn, which re-imports the caller's __main__).
    child = subprocess.Popen([*CHILD, app.database_url, str(scratch), ",".join(there)])
    try:
        read = group_projector(app, here).rebuild(progress=progress)
        if child.wait() == 0:
            _swap_in(projector, scratch, [projector.view(n) for n in there])
        else:
            log.warning("the second rebuild process failed (exit %s): rebuilding %s here", child.returncode, there)
            read = max(read, group_projector(app, there).rebuild(progress=progress))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    projector.forget_reached()
    return read


def _scratch_path(projector: Projector) -> Path:
    views_file = Path(projector.engine.url.database)
    return views_file.with_name(f"{views_file.stem}.rebuild-{os.getpid()}{views_file.suffix}")


def rebuild_into(database_url: str, scratch: str, names: Sequence[str]) -> None:
    """The second process: rebuild ``names`` from the events of ``database_url`` into ``scratch``."""
    from commonroom.platform.bootstrap import all_views, make_engine
    from commonroom.platform.eventstore import EventStore

    store = EventStore(database_url)
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
        projector.rebuild()
    finally:
        engine.dispose()
        store.close()


def _in_main(create_index: str) -> str:
    """``CREATE [UNIQUE] INDEX name ON ...`` as stored in sqlite_master, made explicit about the
    schema (the scratch file, attached beside it, holds an index of the same name)."""
    return re.sub(r"^(\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+)(?!main\.)", r"\1main.", create_index, count=1,
                  flags=re.IGNORECASE)


def _swap_in(projector: Projector, scratch: Path, views: Sequence) -> None:
    """Replace the views' rows and tracking in the views file by the scratch file's, in one
    transaction (the write lock, as a projection batch takes it)."""
    raw = projector.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("ATTACH DATABASE ? AS rebuilt", (str(scratch),))
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                tables = [table for view in views for table in view.tables]
                # The tables' own indexes are dropped for the copy and made again after it, in the
                # same transaction: building an index once from sorted rows is cheaper than keeping
                # it up to date row by row (1.12M events: the swap, which holds the views file's
                # write lock, 6.6 -> 3.6 s). Primary keys stay (they have no SQL to re-run).
                names = [model.__tablename__ for model in tables]
                indexes = cursor.execute(
                    "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    f"AND tbl_name IN ({', '.join('?' for _ in names)})", names).fetchall()
                for index, _sql in indexes:
                    cursor.execute(f'DROP INDEX main."{index}"')
                for model in reversed(tables):
                    cursor.execute(f'DELETE FROM main."{model.__tablename__}"')
                for model in tables:
                    columns = ", ".join(f'"{c.name}"' for c in model.__table__.columns)
                    name = model.__tablename__
                    cursor.execute(f'INSERT INTO main."{name}" ({columns}) SELECT {columns} FROM rebuilt."{name}"')
                for _index, sql in indexes:
                    cursor.execute(_in_main(sql))
                tracking = Tracking.__tablename__
                for view in views:
                    cursor.execute(f"UPDATE main.{tracking} SET position = (SELECT position FROM rebuilt.{tracking} "
                                   f"WHERE name = ?) WHERE name = ?", (view.name, view.name))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            cursor.execute("DETACH DATABASE rebuilt")
            cursor.close()
    finally:
        raw.close()


if __name__ == "__main__":  # the second process: database URL, scratch file, view names
    rebuild_into(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
