"""The one composition root: from a database URL to the event store, services and read models."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from commonroom.platform.directory import DirectoryService
from commonroom.platform.eventstore import EventStore
from commonroom.platform.sqlitefiles import use_wal
from commonroom.platform.services import (
    Clock, CommandStats, KeyedLocks, PeopleService, ProgrammeService, TalkService,
)
from commonroom.platform.throttle import LoginThrottle
from commonroom.platform.trading import MentoringService, TradeService
from commonroom.projections.attendance import AttendanceView
from commonroom.projections.expertise import ExpertiseView
from commonroom.projections.graph import GraphView
from commonroom.projections.notifications import NotificationsView
from commonroom.projections.people import PeopleView
from commonroom.projections.runner import Projector
from commonroom.projections.schedule import ScheduleView
from commonroom.projections.mentoring import MentoringView
from commonroom.projections.trades import TradesView

log = logging.getLogger(__name__)
DEFAULT_DATABASE_URL = "sqlite:///instance/commonroom.sqlite3"


def settings_from_env() -> dict:
    """The only place that reads the process environment."""
    import os

    return {
        "DATABASE_URL": os.environ.get("COMMONROOM_DATABASE_URL") or DEFAULT_DATABASE_URL,
        "SECRET_KEY": os.environ.get("COMMONROOM_SECRET_KEY", ""),
        "FOLLOW": os.environ.get("COMMONROOM_FOLLOW", "1") == "1",
        "INLINE_PROJECTIONS": os.environ.get("COMMONROOM_INLINE_PROJECTIONS", "1") == "1",
        "SESSION_COOKIE_SECURE": os.environ.get("COMMONROOM_SECURE_COOKIES", "0") == "1",
        "PROXY_HOPS": os.environ.get("COMMONROOM_PROXY_HOPS", "0"),
    }


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def views_url(database_url: str) -> str:
    """Where the read models live. On PostgreSQL: the events' database. On SQLite: a file of their
    own beside the events' (``x.sqlite3`` -> ``x.views.sqlite3``). SQLite has one writer per
    file; sharing it, every projection batch held up every event save behind it. The views are
    derived data: delete their file and a rebuild (``commonroom projections rebuild``, or simply
    starting the app) makes them again from the events, exactly once (rows and tracking share the
    views' file and commit together)."""
    if not is_sqlite(database_url):
        return database_url
    prefix, path = database_url.split("://", 1)
    if path in ("", "/", "/:memory:"):
        raise ValueError("SQLite needs a file (sqlite:///path/to/commonroom.sqlite3), not memory")
    file = Path(path[1:])
    return f"{prefix}:///{file.with_name(file.stem + '.views' + (file.suffix or '.sqlite3'))}"


def make_engine(url: str, *, immediate: bool = False) -> sa.Engine:
    """SQLAlchemy engine on the same database as the events.

    On SQLite, ``immediate`` engines start write transactions with BEGIN IMMEDIATE, so a
    projection batch takes the database's write lock before it reads its tracking position.
    """
    if is_sqlite(url):
        path = url.split("://", 1)[1][1:]
        use_wal(path)  # once per file, before the connections below ask for it (see sqlitefiles)
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Events are written by eventsourcing's own connections with synchronous=FULL: an
            # acknowledged event survives a power cut. Read models are derived: their rows and
            # tracking commit together, so losing the last few projection commits in a power cut
            # only means replaying those events. NORMAL skips the fsync at each projection commit.
            cursor.execute("PRAGMA synchronous=NORMAL" if immediate else "PRAGMA synchronous=FULL")
            # Debian builds SQLite with SECURE_DELETE: every page a delete frees is overwritten
            # with zeros, one more page write each (dropping a rebuild's swapped-out talk_versions
            # at 1.12M events: 2.0 s against 0.6 s). FAST still zeroes deleted rows inside the
            # pages it writes anyway. The read models hold nothing the event store does not keep
            # forever, so overwriting freed pages protected nothing.
            cursor.execute("PRAGMA secure_delete=FAST")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith(("postgresql", "postgres")):
        rest = url.split("://", 1)[1]
        # Small pools: a gunicorn worker serves a handful of requests at once, and PostgreSQL's
        # default max_connections (100) is shared by every web worker and projection worker.
        size, overflow = (2, 4) if immediate else (4, 8)
        engine = sa.create_engine(f"postgresql+psycopg://{rest}", pool_size=size, max_overflow=overflow,
                                  pool_pre_ping=True, pool_timeout=10)
        if immediate:
            # Same reasoning as SQLite's synchronous=NORMAL above: projection commits need to be
            # atomic (rows + tracking), not durable; events keep synchronous_commit on.
            @sa.event.listens_for(engine, "connect")
            def _connect(dbapi_connection, _record) -> None:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SET synchronous_commit = off")
                dbapi_connection.commit()

        return engine
    raise ValueError(f"unsupported database URL {url!r}")


@dataclass
class Commonroom:
    """Everything a process needs: the store, the use-case services and the read models."""

    database_url: str
    store: EventStore
    engine: sa.Engine  # reads
    projector: Projector
    people: PeopleService
    programme: ProgrammeService
    talks: TalkService
    clock: Clock
    stats: CommandStats
    inline_projections: bool = True
    settle_timeout: float = 5.0
    trades: TradeService | None = None
    mentoring: MentoringService | None = None
    directory: DirectoryService | None = None
    throttle: LoginThrottle | None = None  # failed sign-ins, shared by every process
    _follower: "Follower | None" = field(default=None, repr=False)

    def settle(self, position: int | None = None) -> None:
        """Read-your-writes: make the read models reflect everything up to ``position``."""
        if position is not None and self.projector.has_reached(position):
            return
        if position:
            # A position past the log's head (a browser's session from before the database was
            # reset or restored) would wait out ``settle_timeout`` for events that will never come.
            position = min(position, self.projector.head())
            if self.projector.has_reached(position):
                return
        if self.inline_projections:
            follower = self._follower
            if (position and follower is not None and follower.projecting.is_set()
                    and self.projector.wait_for(position, timeout=follower.HANDOVER_SECONDS)):
                return  # this process's follower projected it, batched with other saves
            self.projector.catch_up()
        elif position and not self.projector.wait_for(position, timeout=self.settle_timeout):
            # The projection worker is behind or down: project here rather than show stale data.
            # Safe: batches lock the tracking rows, so this never doubles the worker's work.
            self.projector.catch_up(until=position)

    def start_following(self) -> None:
        if self._follower is None:
            self._follower = Follower(self)
            self._follower.start()

    def close(self) -> None:
        if self._follower is not None:
            self._follower.stop()
            self._follower = None
        self.store.close()
        self.engine.dispose()
        self.projector.engine.dispose()


SCHEMA_LOCK_KEY = 0x636F6D6D6F6E  # "common"


@contextmanager
def schema_lock(database_url: str):
    """Serialise schema creation across processes starting at once on PostgreSQL.

    ``CREATE TABLE IF NOT EXISTS`` (eventsourcing's and SQLAlchemy's) is not safe against itself:
    two processes starting together can fail with "tuple concurrently updated". SQLite
    serialises DDL by its own write lock.
    """
    if is_sqlite(database_url):
        yield
        return
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                         connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


def all_views() -> list:
    """A fresh instance of every read model, in the order they are applied."""
    return [PeopleView(), ScheduleView(), AttendanceView(), NotificationsView(), TradesView(), MentoringView(),
            ExpertiseView(), GraphView()]


def bootstrap(database_url: str = DEFAULT_DATABASE_URL, *, clock: Clock | None = None,
              inline_projections: bool = True, batch_size: int = 1000) -> Commonroom:
    write_engine = make_engine(views_url(database_url), immediate=True)
    read_engine = make_engine(views_url(database_url))
    views = all_views()
    with schema_lock(database_url):
        store = EventStore(database_url)
        projector = Projector(write_engine, store.recorder, store.mapper, views, batch_size=batch_size,
                              read_engine=read_engine, read_events=store.read_events)
        changed = projector.setup()
        if changed:
            log.warning("the tables of %s changed with this version: rebuilding them from the events",
                        ", ".join(changed))
            projector.rebuild(changed)
        _forget_views_of_other_events(projector)
    clock = clock or Clock()
    locks, stats = KeyedLocks(), CommandStats()
    app = Commonroom(
        database_url=database_url, store=store, engine=read_engine, projector=projector,
        people=PeopleService(store, clock, locks, stats),
        programme=ProgrammeService(store, clock, locks, stats),
        talks=TalkService(store, clock, locks, stats),
        clock=clock, stats=stats, inline_projections=inline_projections,
    )
    app.trades = TradeService(store, clock, locks, stats)
    app.mentoring = MentoringService(store, clock, locks, stats)
    app.directory = DirectoryService(store, clock, locks, stats, read_engine)
    app.throttle = LoginThrottle(write_engine, read_engine)
    return app


def _forget_views_of_other_events(projector: Projector) -> None:
    """A SQLite views file that has read further than the events file holds (the events file was
    replaced, say by restoring a backup) describes other events: empty it, so it is rebuilt from
    these events. Exactly-once tracking alone would silently skip them."""
    positions = projector.positions()
    head = projector.head()
    ahead = [name for name, position in positions.items() if position > head]
    if ahead:
        log.warning("read models are ahead of the event log (%s > %s): rebuilding them from the events",
                    max(positions.values()), head)
        projector.rebuild(ahead)


class Follower(threading.Thread):
    """Keeps the read models following the log from inside a web process: the projection worker
    loop (``platform.worker.run_worker``) on a thread. Like the worker it first takes the views'
    lock, so of several web processes (gunicorn workers) one projects and the rest stand by,
    instead of all of them queueing for SQLite's one write lock with the same work. The one that
    projects is woken in-process after its own saves, by LISTEN/NOTIFY on PostgreSQL, and by a
    short poll for other processes' saves on SQLite (one cheap query)."""

    # After a save wakes it, the follower waits a few ms so that saves made meanwhile share its
    # batch (``worker.COALESCE_SECONDS``); a request that must see its own write waits for that
    # batch rather than projecting a batch of one itself, for up to HANDOVER_SECONDS.
    HANDOVER_SECONDS = 0.25

    def __init__(self, app: Commonroom) -> None:
        super().__init__(name="commonroom-follower", daemon=True)
        self.app = app
        self.stopping = threading.Event()
        self.projecting = threading.Event()  # holds the views' lock: this process projects

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)

    def run(self) -> None:
        from commonroom.platform.worker import run_worker

        run_worker(self.app, None, self.stopping, on_locked=self.projecting.set, on_released=self.projecting.clear)
