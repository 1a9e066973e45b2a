"""A SQLite database file put into WAL mode once, safely against other processes starting at once.

Every connection to Commonroom's SQLite files (eventsourcing's, SQLAlchemy's, the group writer's)
asks for ``PRAGMA journal_mode=WAL``. On a file already in WAL mode that is a no-op. On a new file
it changes the journal mode, which needs the file to itself, and SQLite answers "database is
locked" at once, without waiting out the busy timeout, when another process is doing the same (it
would deadlock otherwise). Two processes started together on a new database (a projection worker
and its standby, two gunicorn workers) failed that way one start in ten: eventsourcing's
connection raised a bare ``sqlite3.OperationalError``, and the process exited.

``use_wal`` switches the file before any of those connections opens it, trying again until it is
done or ``timeout`` has passed. WAL mode is kept in the file, so it runs once per file.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

RETRY_SECONDS = 0.02


def use_wal(path: str | Path, timeout: float = 30.0) -> None:
    """Make the SQLite file at ``path`` (created if missing) use write-ahead logging."""
    deadline = time.monotonic() + timeout
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=timeout, isolation_level=None)) as connection:
        while True:
            try:
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() == "wal" or connection.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                    return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError(f"could not switch {path} to WAL mode within {timeout:g} s")
            time.sleep(RETRY_SECONDS)
