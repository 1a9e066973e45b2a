"""The one composition root: from a database URL to the event store, services and read models."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from commonroom.platform.directory import DirectoryService
from commonroom.platform.engines import is_sqlite, make_engine, views_url  # noqa: F401 - (and for importers)
from commonroom.platform.eventstore import EventStore
from commonroom.platform.services import (
    Clock, CommandStats, KeyedLocks, PeopleService, ProgrammeService, TalkService,
)
from commonroom.platform.throttle import LoginThrottle
from commonroom.platform.trading import MentoringService, TradeService
from commonroom.projections.catalog import all_views
from commonroom.projections.runner import Projector

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
