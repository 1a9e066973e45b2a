"""A group commit's events written to SQLite by one statement, on a connection of its own.

eventsourcing's SQLite recorder writes a group as ``BEGIN``, one ``INSERT`` per event and ``COMMIT``,
on a connection from its pool. Each statement is a call into SQLite that lets go of Python's GIL,
and the thread that made it must win the GIL back before its next statement, behind the other
request threads of its process (up to a 5 ms switch interval each time). All of it happens while
the leader holds the database's write lock, which the other web process is waiting for: under a
sign-up load the lock was held 4.7 ms on average per group (two or three events), mostly by those
waits (measured with the lock wrapped in timers, two gunicorn workers of eight threads).

Here the group is one multi-row ``INSERT`` in autocommit mode: one transaction, made durable
(``synchronous=FULL``, an fsync) before the call returns, one release of the GIL inside the lock.
Its notification ids are the inserted rowids: consecutive, the last one ``lastrowid`` (SQLite
gives each new row the table's largest rowid plus one, and no other writer can come between the
rows of one statement). Errors are raised as eventsourcing's recorder raises them (a duplicate
version is an ``IntegrityError``, which is a ``RecordConflictError``). Larger groups (bulk loads)
go through the recorder as before.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import (
    DatabaseError, DataError, IntegrityError, InterfaceError, InternalError, NotSupportedError, OperationalError,
    PersistenceError, ProgrammingError, StoredEvent,
)

# Events per statement at most (four parameters each, SQLite allows 32,766): more go through the recorder.
MAX_EVENTS = 200

_ERRORS = [(sqlite3.InterfaceError, InterfaceError), (sqlite3.DataError, DataError),
           (sqlite3.OperationalError, OperationalError), (sqlite3.IntegrityError, IntegrityError),
           (sqlite3.InternalError, InternalError), (sqlite3.ProgrammingError, ProgrammingError),
           (sqlite3.NotSupportedError, NotSupportedError), (sqlite3.DatabaseError, DatabaseError),
           (sqlite3.Error, PersistenceError)]


class SQLiteGroupWriter:
    def __init__(self, db_name: str, table: str, timeout: float) -> None:
        self.db_name, self.table, self.timeout = db_name, table, timeout
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._statements: dict[int, str] = {}

    def _connect(self) -> sqlite3.Connection:
        # one per process: a connection must not cross a fork
        if self._connection is None or self._pid != os.getpid():
            connection = sqlite3.connect(self.db_name, uri=True, check_same_thread=False, isolation_level=None,
                                         timeout=self.timeout, cached_statements=MAX_EVENTS + 8)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a power cut
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def _statement(self, n: int) -> str:
        sql = self._statements.get(n)
        if sql is None:
            sql = self._statements[n] = f"INSERT INTO {self.table} VALUES " + ",".join(["(?,?,?,?)"] * n)
        return sql

    def insert(self, stored: Sequence[StoredEvent]) -> list[int]:
        """Write ``stored`` (at most ``MAX_EVENTS``) in one transaction; their notification ids."""
        params = []
        for s in stored:
            params += (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                       s.originator_version, s.topic, s.state)
        connection = self._connect()
        try:
            cursor = connection.execute(self._statement(len(stored)), params)
        except sqlite3.Error as error:
            for found, raised in _ERRORS:
                if isinstance(error, found):
                    raise raised(error) from error
            raise
        last = cursor.lastrowid
        cursor.close()
        return list(range(last - len(stored) + 1, last + 1))

    def close(self) -> None:
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None
