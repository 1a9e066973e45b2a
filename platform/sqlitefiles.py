"""A SQLite database file put into WAL mode once, safely against other processes starting at once.

Every connection to Commonroom's SQLite files (eventsourcing's, SQLAlchemy's, the group writer's)
asks for ``PRAGMA journal_mode=WAL``. On a file already in WAL mode that is a no-op. On a new file
it changes the journal mode, which needs the file to itself, and SQLite can answer "database is
locked" at once, without waiting out the busy timeout, when another process is doing the same (it
would deadlock otherwise). Measured here: 65 of 600 processes forked two at a time onto new files
got that error from the bare pragmas; starting the app three at a time on new files, 1 of 120
failed in the views engine's connect; two ``projections run`` workers started together on a new
file, 1 of 44 pairs had one of them retry its start. (eventsourcing's own connection asks for WAL
outside its error translation, so there the error would be a bare ``sqlite3.OperationalError``.)

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
                if mode.lower() != "wal":
                    mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() == "wal":
                    return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    raise
            if time.monotonic() > deadline:  # still locked, or a mode other than WAL came back
                raise sqlite3.OperationalError(f"could not switch {path} to WAL mode within {timeout:g} s")
            time.sleep(RETRY_SECONDS)
