"""The long-running projection worker: one per view group, restartable, never two at once.

A worker first takes an exclusive lock for its group and holds it while it runs: a PostgreSQL
advisory lock on a dedicated connection (released by the server if the worker dies, even by
``kill -9``), or on SQLite an ``flock`` on a file beside the database (released by the kernel).
A second worker for the same group waits for the lock instead of processing the same events.
Exactly-once does not depend on the lock (the projector locks tracking rows per batch); the lock
just keeps a spare worker idle instead of contending.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from commonroom.platform.bootstrap import Commonroom, is_sqlite
from commonroom.platform.listen import start_listener
from commonroom.projections.runner import Projector

log = logging.getLogger(__name__)

# How often a worker looks for other processes' saves: on SQLite a poll of the log's head (no
# LISTEN/NOTIFY there; one cheap query), on PostgreSQL only the listener's timeout (NOTIFY wakes it).
SQLITE_POLL_SECONDS = 0.02
POSTGRES_POLL_SECONDS = 0.5
# After a save wakes it, the worker waits this long so that saves made meanwhile share its batch.
COALESCE_SECONDS = 0.005


def lock_key(group: str) -> int:
    digest = hashlib.blake2b(f"commonroom-projections:{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# How often a standby worker tries the lock again: it waits in a loop rather than in a blocking
# flock or pg_advisory_lock, which a SIGTERM could not interrupt (Python retries the call after the
# handler runs), so a stopped standby would hang until killed.
LOCK_RETRY_SECONDS = 0.25


class StoppedWaiting(Exception):
    """``stop`` was set while the worker waited for its group's lock."""


def _take(try_lock: Callable[[], bool], on_wait: Callable[[], None] | None, stop: threading.Event | None) -> None:
    """Take a lock with ``try_lock()``, waiting (``on_wait()`` once) until it is free or ``stop``."""
    if try_lock():
        return
    if on_wait:
        on_wait()
    stop = stop or threading.Event()  # none given: wait for as long as it takes
    while not try_lock():
        if stop.wait(LOCK_RETRY_SECONDS):
            raise StoppedWaiting


@contextmanager
def worker_lock(database_url: str, group: str, on_wait: Callable[[], None] | None = None,
                stop: threading.Event | None = None):
    """Hold the group's lock for the duration of the block (waiting for it if taken; raising
    ``StoppedWaiting`` if ``stop`` is set meanwhile).

    Yields ``still_held()``: False once the lock's database connection is gone (the server
    restarted), after which the caller should take the lock again.
    """
    if is_sqlite(database_url):
        path = Path(database_url.split("://", 1)[1][1:] + f".{group}.worker.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            def try_flock() -> bool:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    return False

            _take(try_flock, on_wait, stop)
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield lambda: True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        key = lock_key(group)
        _take(lambda: conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0], on_wait, stop)

        def still_held() -> bool:
            try:
                conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                return False

        try:
            yield still_held
        finally:
            if not conn.closed:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                except psycopg.Error:
                    pass  # the server dropped the connection, and the lock with it


class LockLost(Exception):
    pass


def group_projector(app: Commonroom, views: list[str] | None) -> Projector:
    if not views:
        return app.projector
    chosen = [app.projector.view(name) for name in views]
    base = app.projector
    return Projector(base.engine, base.recorder, base.mapper, chosen, batch_size=base.batch_size,
                     read_engine=base.read_engine, rebuild_batch_size=base.rebuild_batch_size,
                     read_events=base.read_events)


def run_worker(app: Commonroom, views: list[str] | None, stop: threading.Event,
               poll_seconds: float | None = None, on_wait: Callable[[], None] | None = None,
               on_progress: Callable[[int], None] | None = None,
               on_locked: Callable[[], None] | None = None,
               on_released: Callable[[], None] | None = None, coalesce_seconds: float = COALESCE_SECONDS) -> None:
    """Take the group's lock, then catch up and follow until ``stop`` is set.

    ``poll_seconds``: by default ``SQLITE_POLL_SECONDS`` or ``POSTGRES_POLL_SECONDS``.

    ``coalesce_seconds``: after a save wakes the worker, wait this long before catching up, so the
    saves made meanwhile are projected in the same batch. A batch of one event costs about as much
    as a batch of ten (a dozen statements and a commit either way): under load this turns one
    batch per save into one per interval, for a lag of at most this much more.
    """
    if poll_seconds is None:
        poll_seconds = SQLITE_POLL_SECONDS if is_sqlite(app.database_url) else POSTGRES_POLL_SECONDS
    group = ",".join(sorted(views)) if views else "all"
    projector = group_projector(app, views)
    wake = threading.Event()
    app.store.on_saved(lambda _position: wake.set())
    if not is_sqlite(app.database_url):
        start_listener(app.database_url, app.store.recorder.channel_name, wake, stop, poll_seconds)
    while not stop.is_set():
        try:
            with worker_lock(app.database_url, group, on_wait=on_wait, stop=stop) as still_held:
                log.info("projection worker holds the lock", extra={"fields": {"group": group, "pid": os.getpid()}})
                if on_locked:
                    on_locked()
                try:
                    _follow(projector, wake, stop, still_held, poll_seconds, on_progress, coalesce_seconds)
                finally:
                    if on_released:
                        on_released()
        except StoppedWaiting:
            return
        except Exception:  # noqa: BLE001 - database restarting: take the lock again when it is back
            log.warning("projection worker lost its database connection; retrying", exc_info=True)
            stop.wait(poll_seconds)


def _follow(projector: Projector, wake: threading.Event, stop: threading.Event, still_held: Callable[[], bool],
            poll_seconds: float, on_progress: Callable[[int], None] | None, coalesce_seconds: float = 0.0) -> None:
    while not stop.is_set():
        if not still_held():
            raise LockLost("the lock's connection is gone")
        try:
            read = projector.catch_up()
            if read and on_progress:
                on_progress(read)
        except Exception:  # noqa: BLE001 - keep the lock; the next round retries from the committed position
            log.warning("catch-up failed; retrying", exc_info=True)
            stop.wait(poll_seconds)
        if wake.wait(poll_seconds) and coalesce_seconds:
            stop.wait(coalesce_seconds)  # saves made meanwhile join this batch
        wake.clear()
