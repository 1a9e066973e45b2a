"""A replay's seat events taken from the log in SQL (SQLite, a rebuild into a scratch file).

Most events of a busy log are a talk's seat events: sign-ups, waitlistings, promotions and
cancels (86% of the bench history). Each was read, decoded into an event object and handled in
Python by four views (attendance, expertise's seat changes, notifications' audience, the
schedule's counts), whose rows were then converted back to text and inserted. Those rows are
set-shaped (a sign-up's status is its last seat event; a waitlist position is a rank by joining
order; seat counts are sums), so a replay into a scratch file that can read the log (ATTACHed
beside it, both SQLite) leaves those events out of its reading and makes their rows with
``INSERT ... SELECT`` over the log at the end, after the handlers' and replayers' rows.

These ``SqlReplayer`` s are a second definition of those rows, as the ``Replayer`` s are: the
handlers stay the definition, and a rebuild through this path is tested to give the rows live
processing gives (random histories of every seat case, feedback, reminders, moves, cancels).
Only the current event versions are read this way (``usable``: an event class with an upcaster
sends the replay back through decoding, where upcasting happens).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
# The temporary table ``seats`` makes.
SEATS_TABLE = "cr_seats"


# What a seat event does to its talk's (confirmed, waitlisted) counts (``expertise.seat_change``),
# over the columns of ``seats``.
CONFIRMED_CHANGE = "CASE kind WHEN 1 THEN 1 WHEN 3 THEN 1 WHEN 4 THEN CASE WHEN was_waitlisted THEN 0 ELSE -1 END ELSE 0 END"
WAITLISTED_CHANGE = "CASE kind WHEN 2 THEN 1 WHEN 3 THEN -1 WHEN 4 THEN CASE WHEN was_waitlisted THEN -1 ELSE 0 END ELSE 0 END"
# A (talk, peer)'s status after its last seat event: 1 signed up, 2 waitlisted, 3 promoted, 4
# cancelled (the kind of the event with the highest version).
LAST_STATUS = "max(CASE WHEN kind <= 4 THEN version * 8 + kind END) % 8"


@dataclass(frozen=True)
class Log:
    """The event log as a replay's connection reads it: ``schema.table`` (ATTACHed), and
    ``read_events(start, limit, upto, topics)``, the store's decoding reader without ``topics``
    (``EventStore.read_events_leaving_out``)."""

    schema: str
    table: str
    read_events: Callable[[int, int, int, Sequence[str]], list[tuple[int, Any]]]


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


def prepare(dbapi_connection, log_path: str, schema: str = "log") -> None:
    """ATTACH the log's file to a scratch connection as ``schema`` (before any transaction) and
    give it the functions the SQL here calls."""
    dbapi_connection.create_function("cr_stamp", 2, _stamp_function, deterministic=True)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"ATTACH DATABASE ? AS {schema}", (log_path,))
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    finally:
        cursor.close()


def seats(conn: sa.Connection, log: Log, upto: int) -> str:
    """The log's seat and attendance events up to notification ``upto`` as a temporary table (made
    once per replay), its name returned: talk_hex, version, kind, peer_hex, ts (ISO text),
    was_waitlisted, attended, rating, comment (in no particular order)."""
    if conn.info.get(SEATS_TABLE) == (log, upto):
        return f"temp.{SEATS_TABLE}"
    names = {topic: KIND[kind] for kind, topic in zip(KIND, topics(list(KIND)))}
    case = "CASE topic " + " ".join(f"WHEN '{topic}' THEN {n}" for topic, n in names.items()) + " END"
    wanted = ", ".join(f"'{topic}'" for topic in names)
    only = {n: topic for topic, n in names.items()}
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{SEATS_TABLE}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {SEATS_TABLE} AS SELECT originator_id AS talk_hex, originator_version AS version, "
        f"{case} AS kind, json_extract(state, '$.peer_id._data_') AS peer_hex, "
        f"json_extract(state, '$.timestamp._data_') AS ts, "
        f"CASE topic WHEN '{only[CANCELLED]}' THEN json_extract(state, '$.was_waitlisted') END AS was_waitlisted, "
        f"CASE topic WHEN '{only[ATTENDED]}' THEN json_extract(state, '$.attended') END AS attended, "
        f"CASE topic WHEN '{only[FEEDBACK]}' THEN json_extract(state, '$.rating') END AS rating, "
        f"CASE topic WHEN '{only[FEEDBACK]}' THEN json_extract(state, '$.comment') END AS comment "
        f"FROM {log.schema}.{log.table} WHERE topic IN ({wanted}) AND rowid <= {int(upto)}")
    conn.info[SEATS_TABLE] = (log, upto)
    return f"temp.{SEATS_TABLE}"


def forget(conn: sa.Connection, log: Log, upto: int) -> int:
    """At the end of a replay: return how many seat events the log holds up to ``upto`` (those
    the replay left out of its decoding), and forget the temporary table ``seats`` made. The table
    itself goes with the connection: a replay that reads the log in SQL runs on a scratch file's
    engine, disposed right after (``platform.rebuild.rebuild_into``), and a connection used again
    makes it afresh (``seats``). Dropping it freed its pages one by one: 0.1-0.25 s at 1.12M
    events, against nothing when the connection closes."""
    if conn.info.pop(SEATS_TABLE, None) is None:
        wanted = ", ".join(f"'{topic}'" for topic in topics(SEATS))
        return conn.exec_driver_sql(f"SELECT count(*) FROM {log.schema}.{log.table} "
                                    f"WHERE rowid <= {int(upto)} AND topic IN ({wanted})").scalar()
    return conn.exec_driver_sql(f"SELECT count(*) FROM temp.{SEATS_TABLE} WHERE kind <= {CANCELLED}").scalar()


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
