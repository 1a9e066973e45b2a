"""Wake a thread when PostgreSQL announces new events (eventsourcing NOTIFYs its events table's
channel after each insert). Reconnects after the database restarts."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def listen_for_saves(database_url: str, channel: str, wake: threading.Event, stop: threading.Event,
                     poll_seconds: float = 1.0) -> None:
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'LISTEN "{channel}"')
                wake.set()  # anything saved while we were not listening
                while not stop.is_set():
                    for _ in conn.notifies(timeout=poll_seconds, stop_after=1):
                        wake.set()
        except Exception:  # noqa: BLE001 - the database is restarting; try again shortly
            log.warning("LISTEN connection lost; retrying")
            stop.wait(poll_seconds)


def start_listener(database_url: str, channel: str, wake: threading.Event, stop: threading.Event,
                   poll_seconds: float = 1.0) -> threading.Thread:
    thread = threading.Thread(target=listen_for_saves, args=(database_url, channel, wake, stop, poll_seconds),
                              name="commonroom-listen", daemon=True)
    thread.start()
    return thread
