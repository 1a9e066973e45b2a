"""A replay's seat events taken from the log in SQL (SQLite, a rebuild into a scratch file).

Most events of a busy log are a talk's seat events: sign-ups, waitlistings, promotions and
cancels (86% of the bench history). Each was read, decoded into an event object and handled in
Python by four views (attendance, expertise's seat changes, notifications' audience, the
schedule's counts), whose rows were then converted back to text and inserted. Those rows are
set-shaped (a sign-up's status is its last seat event; a waitlist position is a rank by joining
order; seat counts are sums), so a replay into a scratch file that can read the log (ATTACHed
beside it, both SQLite) leaves those events out of its reading and makes their rows with
``INSERT ... SELECT`` over the log at the end, after the handlers' and replayers' rows. The
seat events are first taken out of the log into a table (``seats``): a temporary one, or in a
rebuild on two processes one file both read (``SharedSeats``). A view's SQL may read the rows
another's made earlier in the same replay (``mark_made``/``made``: notifications' audience from
attendance's sign-ups).

These ``SqlReplayer`` s are a second definition of those rows, as the ``Replayer`` s are: the
handlers stay the definition, and a rebuild through this path is tested to give the rows live
processing gives (random histories of every seat case, feedback, reminders, moves, cancels).
Only the current event versions are read this way (``usable``: an event class with an upcaster
sends the replay back through decoding, where upcasting happens).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from eventsourcing.utils import get_topic

from commonroom.domain.talk import Talk
from commonroom.projections.base import Replayer

# The seat events (read by SQL, left out of the replay's decoding) and attendance's other two,
# numbered as ``seats``' kind column holds them (the SQL here and in the views writes the numbers:
# 1-4 are the seat events, whose number is also a sign-up's status in ``LAST_STATUS``).
SEATS = (Talk.SignedUp, Talk.Waitlisted, Talk.Promoted, Talk.SignUpCancelled)
SIGNED_UP, WAITLISTED, PROMOTED, CANCELLED, ATTENDED, FEEDBACK = 1, 2, 3, 4, 5, 6
KIND = {Talk.SignedUp: SIGNED_UP, Talk.Waitlisted: WAITLISTED, Talk.Promoted: PROMOTED,
        Talk.SignUpCancelled: CANCELLED, Talk.AttendanceRecorded: ATTENDED, Talk.FeedbackGiven: FEEDBACK}
# The temporary table ``seats`` makes, and its columns.
SEATS_TABLE = "cr_seats"
SEATS_COLUMNS = ("talk_hex", "version", "kind", "peer_hex", "ts", "was_waitlisted", "attended", "rating", "comment")
# Where a replay's connection finds the seats table one process made for both (``SharedSeats``).
SHARED_SCHEMA = "seats"


# What a seat event does to its talk's (confirmed, waitlisted) counts (``expertise.seat_change``),
# over the columns of ``seats``.
CONFIRMED_CHANGE = "CASE kind WHEN 1 THEN 1 WHEN 3 THEN 1 WHEN 4 THEN CASE WHEN was_waitlisted THEN 0 ELSE -1 END ELSE 0 END"
WAITLISTED_CHANGE = "CASE kind WHEN 2 THEN 1 WHEN 3 THEN -1 WHEN 4 THEN CASE WHEN was_waitlisted THEN -1 ELSE 0 END ELSE 0 END"
# A (talk, peer)'s status after its last seat event: 1 signed up, 2 waitlisted, 3 promoted, 4
# cancelled (the kind of the event with the highest version).
LAST_STATUS = "max(CASE WHEN kind <= 4 THEN version * 8 + kind END) % 8"


@dataclass(frozen=True, eq=False)
class SharedSeats:
    """The seats table made once for the two processes of a rebuild (``make_shared_seats``), in a
    file of its own that each replay's connection ATTACHes as ``SHARED_SCHEMA`` (``prepare``):
    ``ready()`` returns once the file holds every row (the process that made it: at once; the
    other waits for its word), or raises if it never will."""

    path: str
    ready: Callable[[], None]


@dataclass(frozen=True)
class Log:
    """The event log as a replay's connection reads it: ``schema.table`` (ATTACHed), and
    ``read_events(start, limit, upto, topics)``, the store's decoding reader without ``topics``
    (``EventStore.read_events_leaving_out``). ``upto``: the replay reads up to this notification
    rather than the head it finds (both processes of a rebuild read to the same one); ``shared``:
    the seats table is made once for both (``SharedSeats``, made up to ``upto``)."""

    schema: str
    table: str
    read_events: Callable[[int, int, int, Sequence[str]], list[tuple[int, Any]]]
    upto: int | None = None
    shared: SharedSeats | None = None


def usable() -> bool:
    """True while every event class read here is at its first version (no upcaster to apply)."""
    return all(getattr(kind, "class_version", 1) == 1 for kind in KIND)


def topics(kinds: Sequence[type]) -> list[str]:
    return [get_topic(kind) for kind in kinds]


def id_text(column: str) -> str:
    """SQL for ``str(UUID(hex))`` of a column of 32 lowercase hex digits (as the log stores ids)."""
    return (f"substr({column}, 1, 8) || '-' || substr({column}, 9, 4) || '-' || substr({column}, 13, 4) || '-' "
            f"|| substr({column}, 17, 4) || '-' || substr({column}, 21)")


def stamp_sql(column: str, to_utc: bool) -> str:
    """SQL for what a DATETIME column stores (see ``base._sqlite_datetime``) for an ISO timestamp
    from the log: the common case (UTC, with microseconds) in SQL, any other through Python."""
    return (f"CASE WHEN length({column}) = 32 AND substr({column}, 27) = '+00:00' "
            f"THEN substr({column}, 1, 10) || ' ' || substr({column}, 12, 15) "
            f"ELSE cr_stamp({column}, {1 if to_utc else 0}) END")


def stamp(value: datetime, to_utc: bool) -> str:
    """What a DATETIME column stores for ``value`` (``UTCDateTime``: ``to_utc``)."""
    moved = value.astimezone(timezone.utc) if to_utc and value.tzinfo is not None else value
    return moved.isoformat(" ", "microseconds")[:26]


def _stamp_function(text: str | None, to_utc: int) -> str | None:
    return None if text is None else stamp(datetime.fromisoformat(text), bool(to_utc))


CACHE_KIB = 262_144


def prepare(dbapi_connection, log_path: str, schema: str = "log", shared: str | None = None) -> None:
    """ATTACH the log's file to a scratch connection as ``schema`` (before any transaction), and
    the file of a shared seats table as ``SHARED_SCHEMA`` (``shared``: made, perhaps still empty,
    by ``make_shared_seats``), and give it the functions the SQL here calls."""
    dbapi_connection.create_function("cr_stamp", 2, _stamp_function, deterministic=True)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"ATTACH DATABASE ? AS {schema}", (log_path,))
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        if shared is not None:
            cursor.execute(f"ATTACH DATABASE ? AS {SHARED_SCHEMA}", (shared,))
            cursor.execute(f"PRAGMA {SHARED_SCHEMA}.cache_size=-{CACHE_KIB}")
    finally:
        cursor.close()


def _seats_select(log_schema: str, log_table: str, upto: int) -> str:
    """The SELECT of ``seats``' rows (its columns in ``SEATS_COLUMNS``' order)."""
    names = {topic: KIND[kind] for kind, topic in zip(KIND, topics(list(KIND)))}
    case = "CASE topic " + " ".join(f"WHEN '{topic}' THEN {n}" for topic, n in names.items()) + " END"
    wanted = ", ".join(f"'{topic}'" for topic in names)
    only = {n: topic for topic, n in names.items()}
    return (
        f"SELECT originator_id AS talk_hex, originator_version AS version, "
        f"{case} AS kind, json_extract(state, '$.peer_id._data_') AS peer_hex, "
        f"json_extract(state, '$.timestamp._data_') AS ts, "
        f"CASE topic WHEN '{only[CANCELLED]}' THEN json_extract(state, '$.was_waitlisted') END AS was_waitlisted, "
        f"CASE topic WHEN '{only[ATTENDED]}' THEN json_extract(state, '$.attended') END AS attended, "
        f"CASE topic WHEN '{only[FEEDBACK]}' THEN json_extract(state, '$.rating') END AS rating, "
        f"CASE topic WHEN '{only[FEEDBACK]}' THEN json_extract(state, '$.comment') END AS comment "
        f"FROM {log_schema}.{log_table} WHERE topic IN ({wanted}) AND rowid <= {int(upto)}")


def create_shared_seats(path: str) -> None:
    """An empty seats table in a new file ``path``, for the replays' connections to ATTACH
    (``prepare``) before ``make_shared_seats`` fills it."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute(f"CREATE TABLE {SEATS_TABLE} ({', '.join(SEATS_COLUMNS)})")


def make_shared_seats(path: str, log_path: str, log_table: str, upto: int) -> None:
    """Fill the seats table of ``path`` (``create_shared_seats``) from the log's events up to
    notification ``upto``, as ``seats`` makes its temporary one: a rebuild on two processes makes
    it once for both (at 1.12M events, 1.0-1.35 s each process spent making its own). A scratch
    file like the others: no journal, no syncs, deleted with them. Another connection may have
    it ATTACHed meanwhile but reads it only once told (``SharedSeats.ready``)."""
    with closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as connection:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        connection.execute("ATTACH DATABASE ? AS log", (log_path,))
        connection.execute(f"INSERT INTO main.{SEATS_TABLE} ({', '.join(SEATS_COLUMNS)}) "
                           f"{_seats_select('log', log_table, upto)}")


def seats(conn: sa.Connection, log: Log, upto: int) -> str:
    """The log's seat and attendance events up to notification ``upto`` as a table (made once per
    replay, or once for both processes of a rebuild: ``Log.shared``), its name returned: talk_hex,
    version, kind, peer_hex, ts (ISO text), was_waitlisted, attended, rating, comment (in no
    particular order)."""
    if conn.info.get(SEATS_TABLE) == (log, upto):
        return _seats_name(log)
    if log.shared is not None:
        if upto != log.upto:
            raise ValueError(f"the shared seats table was made up to {log.upto}, not {upto}")
        log.shared.ready()
    else:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{SEATS_TABLE}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {SEATS_TABLE} AS {_seats_select(log.schema, log.table, upto)}")
    conn.info[SEATS_TABLE] = (log, upto)
    return _seats_name(log)


def _seats_name(log: Log) -> str:
    return f"{SHARED_SCHEMA if log.shared is not None else 'temp'}.{SEATS_TABLE}"


# ``conn.info``'s key for the tables a replay's SQL has made in full (``mark_made``).
MADE = "cr_made"


def mark_made(conn: sa.Connection, log: Log, upto: int, table: str) -> None:
    """Say that this replay's SQL (from ``log`` up to ``upto``) has made every row of ``table``,
    so a view whose SQL runs after it may read them (``made``)."""
    conn.info.setdefault(MADE, {})[table] = (log, upto)


def made(conn: sa.Connection, log: Log, upto: int, table: str) -> str | None:
    """``table``, if this replay has made its rows in full already (``mark_made``), else None."""
    return table if conn.info.get(MADE, {}).get(table) == (log, upto) else None


def forget(conn: sa.Connection, log: Log, upto: int) -> int:
    """At the end of a replay: return how many seat events the log holds up to ``upto`` (those
    the replay left out of its decoding), and forget the table ``seats`` made (and the tables
    marked made). A shared one goes with the rebuild's scratch files; a temporary one with the
    connection: a replay that reads the log in SQL runs on a scratch file's engine, disposed right
    after (``platform.rebuild.rebuild_into``), and a connection used again makes it afresh
    (``seats``). Dropping it freed its pages one by one: 0.1-0.25 s at 1.12M events, against
    nothing when the connection closes."""
    conn.info.pop(MADE, None)
    if conn.info.pop(SEATS_TABLE, None) is None:
        wanted = ", ".join(f"'{topic}'" for topic in topics(SEATS))
        return conn.exec_driver_sql(f"SELECT count(*) FROM {log.schema}.{log.table} "
                                    f"WHERE rowid <= {int(upto)} AND topic IN ({wanted})").scalar()
    return conn.exec_driver_sql(f"SELECT count(*) FROM {_seats_name(log)} WHERE kind <= {CANCELLED}").scalar()


class Phases:
    """A replay's progress (``runner.Progress``: position reached, head) when its views make rows
    in SQL at the end: reading the log counts for ``READING`` of the way, each view's SQL for an
    equal share of the rest, so a progress bar keeps moving while the SQL runs (most of the time
    at 1M events) instead of standing at its end."""

    READING = 0.4

    def __init__(self, progress: Callable[[int, int], None], upto: int, statements: int) -> None:
        self.progress, self.upto, self.statements = progress, upto, statements
        self.reading = self.READING if statements else 1.0
        self.reported = 0

    def __call__(self, position: int, _head: int) -> None:
        self._report(int(min(position, self.upto) * self.reading))

    def in_sql(self, done: int) -> None:
        self._report(int(self.upto * (self.reading + (1 - self.reading) * done / self.statements)))

    def _report(self, position: int) -> None:
        # (the last batch's reading is reported after the SQL its write-out ran: never go back)
        self.reported = max(self.reported, position)
        self.progress(self.reported, self.upto)


class SqlReplayer(Replayer):
    """A ``Replayer`` whose view takes ``sql_kinds`` (some or all of ``KIND``) from the log in SQL
    (``sql``, at the end of the replay, after every other row is written) instead of being fed
    them; the replay leaves the seat events out of its reading when every view that handles them
    has one of these. Its methods for those kinds do nothing (a replay that reads them, as
    attendance's feedback is read for expertise, feeds them here for nothing)."""

    sql_kinds: tuple[type, ...] = ()

    def __init__(self, methods: dict[type, Callable[[Any], None]] | None = None) -> None:
        super().__init__({**(methods or {}), **{kind: self._in_sql for kind in self.sql_kinds}})

    def _in_sql(self, event: Any) -> None:
        """Taken from the log in SQL."""

    def tables(self):
        return []

    def sql(self, conn: sa.Connection, log: Log, upto: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
