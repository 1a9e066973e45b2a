"""Rebuilding read models on both cores (SQLite).

A rebuild replays the whole log into every view: Python work on one core (decode, handlers, row
bookkeeping), with SQLite's writes in between. Two processes cannot share that work in one
views file: each batch holds the file's write lock from its first read to its commit. Instead
the views are split in two groups (``split``, by their measured costs), and each group is rebuilt
from zero into a scratch file of its own beside the views file (no journal, no syncs: a scratch
file is deleted if anything fails), one by this process and one by a second process (a fork of
this one, or a fresh interpreter when this one runs other threads), both up to the same
notification, while the live views keep their rows and the live follower keeps them current.
The talks' seat events, which both groups' SQL reads, are taken out of the log once, by this
process, into a third scratch file both read (``sqlreplay.SharedSeats``: the second process waits
for word on a pipe, a fresh interpreter's standard input, before it reads it). Each process then
copies its group's tables into shadow tables in the views file (``_Swap.copy``: short
transactions, the follower's batches going on between them), and one transaction renames the
live tables out and the shadows in (a small table's rows are copied in instead), with the views'
tracking positions, so readers see the old rows or the rebuilt ones, never a mix and never an
empty view; the live follower then carries on from those positions.

If the second process fails, its group is rebuilt here too, after the first: the result is the
same, only slower. PostgreSQL, a single view, one CPU or a short log (under 20,000 events, or
75,000 when the second process is a fresh interpreter: ``parallel_from``, where starting the
second process costs more than it saves): ``Projector.rebuild``, in place (for a log of up to
100,000 events in one transaction).
"""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Sequence, Set
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa

from commonroom.projections import sqlreplay
from commonroom.projections.base import Tracking
from commonroom.projections.runner import Progress, Projector

log = logging.getLogger(__name__)

# What each view costs a replay, in microseconds an event beyond reading and decoding the log's
# other events (``READ_COST``, every process pays it), and what copying its tables into the views
# file with their indexes costs afterwards, in seconds a million events. The views that handle the
# talks' seat events take them from the log in SQL (``projections.sqlreplay``): those costs are
# their SQL's, over a seats table the first process makes once for both (``SEATS_COST``). Measured
# on the bench's 1.12M-event history (session of 2026-12-06, after the shared seats table), each
# view alone into a scratch file with the seats table made beforehand, less a replay of the
# mentoring view alone (1.17 s: setting up, reading and decoding what is not a seat event), two
# runs each; then the copy of that scratch file into the views file (``_Swap.copy``); the seats
# table 1.16-1.17 s. The second interpreter's start, in seconds: importing what it needs
# (``platform.engines``, the event store, the views), 0.4-0.9 s on this machine. Only used to
# split the views into two groups that finish together; all scale with the machine.
# ``TOGETHER``: what a process saves when it replays both views of a pair, one's SQL reading the
# other's rows (notifications' audience from attendance's sign-ups, ``projections.notifications``):
# attendance alone 5.32 s, notifications alone 3.98 s, both 6.40 s, mentoring alone 1.14 s (three
# runs each, same session).
COST = {"attendance": 4.0, "expertise": 2.35, "notifications": 2.3, "schedule": 0.65, "people": 0.45, "graph": 0.4,
        "mentoring": 0.0, "trades": 0.05}
TOGETHER = {frozenset({"attendance", "notifications"}): 1.55}
READ_COST = 1.05
SEATS_COST = 1.05
COPY_COST = {"attendance": 0.83, "expertise": 0.47, "notifications": 0.48, "people": 0.07, "graph": 0.03,
             "schedule": 0.03, "trades": 0.01}
CHILD_START_SECONDS = 0.6
# The same when it is a fork of this process (``_Forked``), which has imported all of that already:
# its replay began 0.01-0.03 s after the first's in instrumented runs (111.6k and 1.12M events).
FORK_START_SECONDS = 0.05


def group_seconds(group: Sequence[str], events: int, makes_seats: bool = False, start: float = 0.0
                  ) -> tuple[float, float]:
    """How long a process takes to replay ``group`` over ``events`` events, and then to copy its
    tables into the views file, by the costs above (``makes_seats``: it makes the seats table,
    for both processes; ``start``: seconds before it begins)."""
    seats = SEATS_COST if makes_seats else 0.0
    saved = sum(saving for pair, saving in TOGETHER.items() if pair <= set(group))
    replay = start + (READ_COST + seats + sum(COST.get(n, 1) for n in group) - saved) * events / 1e6
    return replay, sum(COPY_COST.get(n, 0) for n in group) * events / 1e6


def finish_seconds(here: Sequence[str], there: Sequence[str], events: int, seat_views: Set[str] = frozenset(),
                   start: float = CHILD_START_SECONDS) -> float:
    """When a rebuild split into ``here`` (this process, which makes the seats table when any
    view takes the seat events in SQL: ``seat_views``) and ``there`` (the second process, counting
    its ``start``) is done, by the costs above: the views file takes one copy at a time, so the
    process whose replay ends first copies first and the other copies after both its replay and
    that copy."""
    first = group_seconds(here, events, bool(seat_views) and bool(here))
    second = group_seconds(there, events, False, start) if there else (0.0, 0.0)
    (early, early_copy), (late, late_copy) = sorted((first, second))
    return max(early + early_copy, late) + late_copy


# The second process's command line (its arguments follow).
CHILD = [sys.executable, "-m", "commonroom.platform.rebuild"]


def split(names: Sequence[str], events: int = 1_000_000, seat_views: Set[str] = frozenset(),
          start: float = CHILD_START_SECONDS) -> tuple[list[str], list[str]]:
    """Two groups of the views whose rebuild is done soonest over ``events`` events
    (``finish_seconds``, the second process starting after ``start`` seconds: at best its replay
    and copy end as the first one's replay does, which then copies): of every way to split the
    views (2^8 for eight)."""
    ordered = sorted(names)
    best: tuple[float, list[str], list[str]] | None = None
    for mask in range(1, 2 ** len(ordered) - 1):  # each view here or there, neither group empty
        here = [n for i, n in enumerate(ordered) if not mask >> i & 1]
        there = [n for i, n in enumerate(ordered) if mask >> i & 1]
        seconds = finish_seconds(here, there, events, seat_views, start)
        if best is None or seconds < best[0]:
            best = (seconds, here, there)
    if best is None:  # one view
        return list(ordered), []
    return best[1], best[2]


# Below this many events one process is quicker: the second one starts (a fresh interpreter
# importing the app: 0.35-0.5 s; a fork: a few ms) and the swap copies its rows again, while one
# process rebuilds in one transaction (``Projector.ATOMIC_REBUILD_UP_TO``, which must stay above
# both). Measured on the bench's histories, each way three times in turn (AMD EPYC). A fresh
# interpreter, slow phase: at 55.6k events one transaction 36.8-37.2k events/s against 29.8-30.1k
# in two processes; at 89.1k 30.1-31.3k against 31.5-33.0k; at 111.6k 30.6-31.3k against
# 33.5-34.7k. A fork (session of 2026-12-06): at 10.6k events one process 0.23 s against 0.29-0.31
# s; at 16.3k 0.32-0.35 s against 0.34 s; at 21.8k 0.43-0.46 s against 0.35-0.37 s; at 33.1k
# 0.67-0.68 s against 0.44-0.47 s.
PARALLEL_FROM_EVENTS = 75_000
FORK_PARALLEL_FROM_EVENTS = 20_000


def forks() -> bool:
    """Whether ``rebuild`` starts its second process as a fork of this one by default: where
    there is ``fork`` and this process runs no other thread (see ``_Forked``)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def parallel_from(fork: bool) -> int:
    """From how many events ``rebuild`` uses two processes by default, the second one a fork of
    this one or a fresh interpreter."""
    return FORK_PARALLEL_FROM_EVENTS if fork else PARALLEL_FROM_EVENTS


def rebuild(app, names: Sequence[str] | None = None, progress: Progress | None = None,
            processes: int | None = None, min_events: int | None = None, fork: bool | None = None) -> int:
    """Rebuild the named views (all by default) by replaying the log; return how many
    notifications this process read. On SQLite, with a second CPU and at least ``min_events``
    events, into scratch files on both cores, swapped in at the end (the live views keep their
    rows meanwhile); otherwise in place (``Projector.rebuild``: for a short log one transaction,
    so readers see the old rows until it commits). ``fork``: the second process is a fork of
    this one (``_Forked``) or a fresh interpreter; by default a fork when this process runs no
    other thread (``forks``). ``min_events``: by default ``parallel_from(fork)``."""
    from commonroom.platform.engines import is_sqlite

    projector: Projector = app.projector
    chosen = list(names) if names else [v.name for v in projector.views]
    processes = processes if processes is not None else min(2, os.cpu_count() or 1)
    fork = fork if fork is not None else forks()
    min_events = min_events if min_events is not None else parallel_from(fork)
    if (processes < 2 or len(chosen) < 2 or not is_sqlite(app.database_url)
            or projector.head() < min_events):
        return projector.rebuild(chosen, progress=progress)
    seat_views = {name for name in chosen if projector.view(name).sql_replayer() is not None}
    upto = projector.head()  # both read to the same notification (and the seats table is made to it)
    here, there = split(chosen, upto, seat_views, FORK_START_SECONDS if fork else CHILD_START_SECONDS)
    scratches = [_scratch_path(projector, part) for part in ("here", "there", "seats")]
    _remove(*scratches)
    owner = os.getpid()  # names the shadow tables of both processes
    shared = bool(seat_views) and app.store.reads_sqlite_rows and sqlreplay.usable()
    scratch, seats_file = str(scratches[1]), str(scratches[2]) if shared else None
    child: subprocess.Popen | _Forked | None = None
    swap: _Swap | None = None
    try:  # (whatever fails, from here on: the second process stopped, every scratch file removed)
        if seats_file is not None:  # made here, read by both (the second one ATTACHes it as it starts)
            sqlreplay.create_shared_seats(seats_file)
        # The second process rebuilds its group and copies it into shadow tables in the views file,
        # as this one does: a fork, or a fresh interpreter (not multiprocessing's spawn, which
        # re-imports the caller's __main__).
        if fork:
            child = _Forked(lambda ready: _second_process(app.database_url, scratch, there, owner, upto, seats_file,
                                                          ready))
        else:
            child = subprocess.Popen([*CHILD, app.database_url, scratch, ",".join(there), str(owner), str(upto),
                                      seats_file or "-"], stdin=subprocess.PIPE)
        swap = _Swap(projector.engine, owner)
        seats = None
        if seats_file is not None:
            sqlreplay.make_shared_seats(seats_file, app.store.sqlite_path, app.store.recorder.events_table_name, upto)
            seats = sqlreplay.SharedSeats(seats_file, ready=lambda: None)
        _tell(child, READY if seats is not None else "")
        read = rebuild_into(app.database_url, str(scratches[0]), here, progress=progress, store=app.store,
                            upto=upto, shared=seats)
        swap.copy(scratches[0], [projector.view(n) for n in here])
        if child.wait() == 0:
            swap.copied(scratches[1], [projector.view(n) for n in there])
        else:
            log.warning("the second rebuild process failed (exit %s): rebuilding %s here", child.returncode, there)
            _remove(scratches[1])
            read = max(read, rebuild_into(app.database_url, str(scratches[1]), there, progress=progress,
                                          store=app.store, upto=upto, shared=seats))
            swap.copy(scratches[1], [projector.view(n) for n in there])
        swap.commit()
    finally:
        if child is not None:
            _tell(child, "")  # (closes its input, if a failure came before the word)
            if child.poll() is None:
                child.kill()
                child.wait()
        if swap is not None:
            swap.close()
        _remove(*scratches)
    projector.forget_reached()
    return read


# What the first process tells the second on its standard input once the shared seats table is
# made (``_tell``; the second waits for it in ``_told``).
READY = "seats ready"


class _Forked:
    """The second process as a fork of this one, as far as ``rebuild`` uses a ``Popen``: it starts
    with every module this one has imported (a fresh interpreter spends 0.4-0.9 s importing them
    before its replay begins). ``target(ready)`` runs in it, ``ready`` waiting for the word this
    process writes to ``stdin``; it exits without the interpreter's teardown, status 0 if
    ``target`` returned and 1 (its traceback on stderr) if it raised. Only from a process with no
    other thread: one holding a lock as the fork happens would leave it held in the fork. The fork
    opens connections of its own and never touches this process's (SQLite's rule for fork)."""

    def __init__(self, target: Callable[[Callable[[], None]], None]) -> None:
        read_end, write_end = os.pipe()
        sys.stdout.flush()  # (else the fork would write out this process's unwritten output again)
        sys.stderr.flush()
        try:
            self.pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            raise
        if self.pid == 0:  # the fork
            status = 1
            try:
                os.close(write_end)
                with os.fdopen(read_end) as words:
                    target(lambda: _told(words))
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                _exit_at_once(status)
        os.close(read_end)
        self.stdin = os.fdopen(write_end, "wb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _exit_at_once(status: int) -> None:
    """End the second process once its rows are copied (or it failed), its output written out,
    without the interpreter's teardown: freeing every object the replay held, which the first
    process waits for (0.1 s at 111.6k events)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _tell(child: subprocess.Popen | _Forked, word: str) -> None:
    """Send ``word`` to the second process and close its input (which ends its wait either way)."""
    try:
        if word:
            child.stdin.write(f"{word}\n".encode())
        child.stdin.close()
    except (BrokenPipeError, OSError):  # it has already ended: its exit status tells the rest
        pass


def _told(words: TextIO | None = None) -> None:
    """In the second process: wait for the first one's word that the shared seats table is made
    (on ``words``, by default its standard input)."""
    word = (words or sys.stdin).readline().strip()
    if word != READY:
        raise RuntimeError(f"the first rebuild process did not make the seats table (it said {word!r})")


def _remove(*scratches: Path) -> None:
    for scratch in scratches:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)


def _scratch_path(projector: Projector, part: str) -> Path:
    views_file = Path(projector.engine.url.database)
    return views_file.with_name(f"{views_file.stem}.rebuild-{os.getpid()}-{part}{views_file.suffix}")


def hold_rows(processes: int = 2, meminfo: str = "/proc/meminfo") -> int:
    """How many rows a replay into a scratch file may hold in memory before it writes them out
    (``Projector.replay``): a quarter of the memory available now, shared by the rebuilding
    processes, at ~1 kB a row (measured: ~850 bytes a held row, 1.12M events' 1.2M rows a process
    in ~1 GB), and never fewer than 250,000. Holding every row is the quickest replay (1.12M
    events: 24.3 -> 20.6 s a process against 250,000 rows, which then write out and read back
    nine segments, the later ones through their indexes)."""
    try:
        with open(meminfo) as lines:
            available = next(int(line.split()[1]) * 1024 for line in lines
                             if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return HOLD_ROWS_AT_LEAST
    return max(HOLD_ROWS_AT_LEAST, available // 4 // max(1, processes) // 1000)


HOLD_ROWS_AT_LEAST = 250_000


def rebuild_into(database_url: str, scratch: str, names: Sequence[str], progress: Progress | None = None,
                 store=None, rows_held: int | None = None, upto: int | None = None,
                 shared: sqlreplay.SharedSeats | None = None) -> int:
    """Rebuild ``names`` from the events of ``database_url`` into the empty file ``scratch``;
    return how many notifications were read. ``store``: this process's own event store (the
    second process opens one); ``rows_held``: see ``hold_rows`` (by default, for two processes);
    ``upto``, ``shared``: read the seat events' rows up to ``upto`` from a seats table made for
    both processes (``sqlreplay.SharedSeats``; ``upto``, without it: the head to stop at)."""
    from commonroom.platform.engines import make_engine
    from commonroom.projections.catalog import all_views
    from commonroom.platform.eventstore import EventStore

    own_store = store is None
    store = EventStore(database_url) if own_store else store
    # (deferred transactions: BEGIN IMMEDIATE would take the write lock of the ATTACHed log too)
    engine = make_engine(f"sqlite:///{scratch}")
    log = sqlreplay.Log("log", store.recorder.events_table_name, store.read_events_leaving_out, upto, shared) \
        if store.reads_sqlite_rows else None

    @sa.event.listens_for(engine, "connect")
    def _scratch(dbapi_connection, _record) -> None:
        # A scratch file, deleted if anything fails: no journal, no syncs (the swap's transaction
        # in the views file is what must be atomic). After make_engine's own settings.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()
        if log is not None:  # the log beside it, for the seat events' rows (Projector.replay)
            sqlreplay.prepare(dbapi_connection, store.sqlite_path, log.schema,
                              shared.path if shared is not None else None)
    try:
        views = [view for view in all_views() if view.name in set(names)]
        projector = Projector(engine, store.recorder, store.mapper, views, read_events=store.read_events)
        tables = [Tracking.__table__, *(model.__table__ for view in views for model in view.tables)]
        with engine.begin() as conn:  # the tables without their indexes (see Projector.replay)
            for table in tables:
                conn.execute(sa.schema.CreateTable(table, if_not_exists=True))

        def make_indexes(conn: sa.Connection) -> None:
            for table in tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)
        return projector.replay(progress=progress, indexes=make_indexes, log=log,
                                hold_rows=rows_held if rows_held is not None else hold_rows())
    finally:
        engine.dispose()
        if own_store:
            store.close()


# Tables a rebuild makes in the views file beside the live ones, named for the process that runs
# it: its rebuilt rows waiting for the swap (<table>__rebuilt_<pid>) and the live rows it swapped
# out, to be dropped (<table>__retired_<pid>).
SHADOW, RETIRED = "__rebuilt_", "__retired_"


def _shadow_name(table: str, owner: int) -> str:
    return f"{table}{SHADOW}{owner}"


def _retired_name(table: str, owner: int) -> str:
    return f"{table}{RETIRED}{owner}"


def _drop_leftovers(cursor, pids: set[int] | None = None) -> None:
    """Drop the shadow and retired tables (and with them their indexes) of the rebuilds of
    processes ``pids``, or (``pids`` not given) those of rebuilds whose process is no longer
    running (killed during its copy), each in a transaction of its own."""
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
        os.kill(pid, 0)  # (PermissionError: it runs, as another user)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _index_names(cursor, but_on: str) -> set[str]:
    """The views file's index names, but those of table ``but_on`` (about to be made again)."""
    return {row[0] for row in cursor.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'index' AND tbl_name != ?", (but_on,))}


def _shadow_ddl(model, shadow: str, taken: set[str]) -> tuple[str, list[str]]:
    """``CREATE TABLE`` for the shadow of ``model``'s table (the model's columns, in the model's
    order: the scratch file's tables were made from the same models) and ``CREATE INDEX`` for each
    of the model's indexes on it, named so as not to clash with the live table's, which stand until
    the swap: an index keeps the name it was made with when its table is renamed, and SQLite cannot
    rename an index, so the names alternate between the model's own and the model's own + ``_r``
    (or, were both taken, ``_r1``, ``_r2``, ...). ``taken``: the index names of every other table."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    copy = model.__table__.to_metadata(sa.MetaData(), name=shadow)
    copy.indexes.clear()  # (a copy names its indexes after the shadow: made below instead)
    create = str(sa.schema.CreateTable(copy).compile(dialect=sqlite_dialect.dialect())).strip()
    indexes = []
    for index in sorted(model.__table__.indexes, key=lambda i: i.name):
        names = (index.name, *(f"{index.name}_r{n or ''}" for n in range(len(taken) + 1)))
        name = next(name for name in names if name not in taken)
        columns = ", ".join(f'"{column.name}"' for column in index.columns)
        unique = "UNIQUE " if index.unique else ""
        indexes.append(f'CREATE {unique}INDEX main."{name}" ON "{shadow}" ({columns})')
    return create, indexes


class _Swap:
    """Replaces views' rows and tracking in the views file by those of scratch files.

    ``copy`` copies a scratch file's tables into a shadow table each in the views file
    (``<table>__rebuilt_<owner>``) and makes their indexes, one short transaction per table and
    per index, so the live follower's batches go on between them (when the copy and the indexes
    were one transaction, 1.12M events' rows held the views file's write lock for 5-12 s); each
    rebuilding process copies its own group. ``commit``: one transaction renames the live tables
    out (``<table>__retired_<owner>``) and the shadows in (or, for a table of at most
    ``SWAP_ROWS_AT_MOST`` rows shaped as the live one, copies its rows into the live table), and
    sets the views' tracking positions, so readers see the old rows or the rebuilt ones, never a
    mix and never an empty view.
    ``close`` drops the swapped-out tables after it, one a transaction (or, if the swap did not
    happen, the shadows)."""

    def __init__(self, engine: sa.Engine, owner: int, tidy: bool = True) -> None:
        self.owner = owner
        self.raw = engine.raw_connection()
        self.cursor = self.raw.cursor()
        self.tables: list[str] = []
        self.positions: list[tuple[str, int]] = []
        try:
            if tidy:
                _drop_leftovers(self.cursor)  # left behind by a rebuild that did not finish
        except BaseException:
            self.close(drop=False)
            raise

    def copy(self, scratch: Path, views: Sequence) -> None:
        cursor = self.cursor
        cursor.execute("ATTACH DATABASE ? AS rebuilt", (str(scratch),))
        try:
            for model in (model for view in views for model in view.tables):
                name, shadow = model.__tablename__, _shadow_name(model.__tablename__, self.owner)
                create, indexes = _shadow_ddl(model, shadow, _index_names(cursor, but_on=shadow))
                # same columns, empty target without indexes: SQLite copies the records as they
                # are, without decoding them (its "transfer optimisation"); then each index from
                # the sorted rows at once rather than row by row
                _in_a_transaction(cursor, [f'DROP TABLE IF EXISTS main."{shadow}"',
                                           create.replace("CREATE TABLE ", "CREATE TABLE main.", 1),
                                           f'INSERT INTO main."{shadow}" SELECT * FROM rebuilt."{name}"'])
                for sql in indexes:
                    _in_a_transaction(cursor, [sql])
        finally:
            cursor.execute("DETACH DATABASE rebuilt")
        self.copied(scratch, views)

    def copied(self, scratch: Path, views: Sequence) -> None:
        """Take ``views``' shadow tables as copied (by the second process) from ``scratch``."""
        import sqlite3
        from contextlib import closing

        self.tables += [model.__tablename__ for view in views for model in view.tables]
        with closing(sqlite3.connect(scratch)) as connection:
            self.positions += [(view.name, connection.execute(
                f"SELECT position FROM {Tracking.__tablename__} WHERE name = ?", (view.name,)).fetchone()[0])
                for view in views]

    def commit(self) -> None:
        cursor = self.cursor
        cursor.execute("BEGIN IMMEDIATE")
        try:
            live = {row[0] for row in cursor.execute(
                "SELECT name FROM main.sqlite_master WHERE type = 'table'")}
            for name in self.tables:
                shadow = _shadow_name(name, self.owner)
                if (name in live and _at_most(cursor, shadow, SWAP_ROWS_AT_MOST)
                        and _same_shape(cursor, name, shadow)):
                    # a small table's rows copied into the live one: two renames cost more (each
                    # makes SQLite read the whole schema again); the shadow goes with the leftovers
                    cursor.execute(f'DELETE FROM main."{name}"')
                    cursor.execute(f'INSERT INTO main."{name}" SELECT * FROM main."{shadow}"')
                    continue
                # renames, not drops: dropping a large table frees its every page, which took
                # longer than the copy (talk_versions at 1.12M events: 0.6 s, and 1.2 s to commit)
                if name in live:
                    cursor.execute(f'ALTER TABLE main."{name}" RENAME TO "{_retired_name(name, self.owner)}"')
                cursor.execute(f'ALTER TABLE main."{shadow}" RENAME TO "{name}"')
            for view, position in self.positions:
                cursor.execute(f"UPDATE main.{Tracking.__tablename__} SET position = ? WHERE name = ?",
                               (position, view))
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise

    def close(self, drop: bool = True) -> None:
        try:
            if drop:
                _drop_leftovers(self.cursor, {self.owner})
        finally:
            self.cursor.close()
            self.raw.close()


# A view table of at most this many rows is swapped in by copying its rows into the live table
# (when both have the same columns and indexes) rather than by two renames. Each ``ALTER TABLE
# RENAME`` reads the views file's whole schema again: ~5 ms with the live and shadow tables of the
# 33 view tables, 0.33-0.36 s for the swap's 66 renames (bench's 111.6k history, slow phase), a
# sixth of that rebuild; most of those tables hold a few rows or none.
SWAP_ROWS_AT_MOST = 2_000


def _at_most(cursor, table: str, rows: int) -> bool:
    """Whether ``table`` holds at most ``rows`` rows (reading no more than ``rows + 1``)."""
    return cursor.execute(f'SELECT count(*) FROM (SELECT 1 FROM main."{table}" LIMIT ?)',
                          (rows + 1,)).fetchone()[0] <= rows


def _same_shape(cursor, table: str, other: str) -> bool:
    """Whether two tables have the same columns in the same order, the same constraints (their
    ``CREATE TABLE`` after the name) and the same indexes (columns, uniqueness, and a partial
    one's condition): so the rows of one copied into the other are what renaming it would give."""
    def after_name(sql: str | None) -> str | None:
        return sql.split("(", 1)[1] if sql and "(" in sql else None

    def shape(name: str):
        table = cursor.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?",
                               (name,)).fetchone()
        if table is None or after_name(table[0]) is None:
            return None
        indexes = []
        for _seq, index, unique, origin, partial in cursor.execute(
                f'PRAGMA main.index_list("{name}")').fetchall():
            columns = tuple(row[2] for row in cursor.execute(f'PRAGMA main.index_info("{index}")').fetchall())
            condition = after_name(cursor.execute("SELECT sql FROM main.sqlite_master WHERE name = ?",
                                                  (index,)).fetchone()[0]) if partial else None
            indexes.append((unique, origin, columns, condition))
        return after_name(table[0]), sorted(indexes, key=repr)

    mine = shape(table)
    return mine is not None and mine == shape(other)


def _in_a_transaction(cursor, statements: Sequence[str]) -> None:
    cursor.execute("BEGIN IMMEDIATE")
    try:
        for sql in statements:
            cursor.execute(sql)
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


def _second_process(database_url: str, scratch: str, names: Sequence[str], owner: int, upto: int,
                    seats: str | None, ready: Callable[[], None] = _told) -> None:
    """Rebuild ``names`` up to notification ``upto`` into ``scratch`` and copy them into shadow
    tables of the views file, named for the rebuild of process ``owner``, which swaps them in.
    ``seats``: the file of the seats table the first process makes for both (``ready`` returns
    when it is made)."""
    from commonroom.platform.engines import make_engine, views_url
    from commonroom.projections.catalog import all_views

    shared = sqlreplay.SharedSeats(seats, ready=ready) if seats is not None else None
    rebuild_into(database_url, scratch, names, upto=upto, shared=shared)
    engine = make_engine(views_url(database_url), immediate=True)
    try:
        swap = _Swap(engine, owner, tidy=False)
        try:
            swap.copy(Path(scratch), [view for view in all_views() if view.name in set(names)])
        finally:
            swap.close(drop=False)  # (the owner drops them if it does not swap them in)
    finally:
        engine.dispose()


if __name__ == "__main__":  # the second process: database URL, scratch file, view names, owner, upto, seats file
    _second_process(sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5]),
                    None if sys.argv[6] == "-" else sys.argv[6])
    # (a failure above exits the usual way, with its traceback and status 1)
    _exit_at_once(0)
