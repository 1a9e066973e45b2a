"""Attendance: every sign-up per talk and per peer (confirmed, waitlisted with its position,
cancelled), whether they came, and the feedback they gave."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.talk import Talk
from commonroom.projections import sqlreplay
from commonroom.projections.base import Base, Projection, Replayer, Rows, UTCDateTime, str_id


class SignUpRow(Base):
    __tablename__ = "signups"
    # SQLite: the rows kept in key order, no rowid (a rowid table keeps a second copy of the two
    # ids in its key's index: at 1.26M events 59 of the table's 167 MB, written by every rebuild)
    __table_args__ = {"sqlite_with_rowid": False}
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(sa.String(12))  # confirmed | waitlisted | cancelled
    position: Mapped[int | None]  # waitlist position, 1 = next to be promoted
    attended: Mapped[bool | None]
    rating: Mapped[int | None]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    signed_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AttendanceView(Projection):
    name = "attendance"
    tables = [SignUpRow]
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        # Every sign-up of a talk whose waitlist may close a gap (that moves the others); just
        # the peer's own row for the rest (a live sign-up then reads one row, not the talk's).
        rows.load(SignUpRow, {str_id(e.originator_id) for e in events if isinstance(e, Talk.Promoted)
                              or (isinstance(e, Talk.SignUpCancelled) and e.was_waitlisted)})
        rows.load_keys(SignUpRow, {(str_id(e.originator_id), str_id(e.peer_id)) for e in events
                                   if isinstance(e, Talk.Event) and hasattr(e, "peer_id")})

    def replayer(self) -> Replayer | None:
        return _AttendanceReplayer().for_view(self)

    def sql_replayer(self) -> Replayer | None:
        return _AttendanceSql().for_view(self)

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Not an attendance event."""

    @handle.register
    def _(self, e: Talk.SignedUp, rows: Rows) -> None:
        self._put(rows, e, "confirmed", None)

    @handle.register
    def _(self, e: Talk.Waitlisted, rows: Rows) -> None:
        self._put(rows, e, "waitlisted", e.position)

    @handle.register
    def _(self, e: Talk.Promoted, rows: Rows) -> None:
        row = self._row(rows, e)
        self._close_gap(rows, row)
        row.status, row.position = "confirmed", None

    @handle.register
    def _(self, e: Talk.SignUpCancelled, rows: Rows) -> None:
        row = self._row(rows, e)
        if row.status == "waitlisted":
            self._close_gap(rows, row)
        row.status, row.position = "cancelled", None

    @handle.register
    def _(self, e: Talk.AttendanceRecorded, rows: Rows) -> None:
        self._row(rows, e).attended = e.attended

    @handle.register
    def _(self, e: Talk.FeedbackGiven, rows: Rows) -> None:
        row = self._row(rows, e)
        row.rating, row.comment = e.rating, e.comment

    @staticmethod
    def _put(rows: Rows, e, status: str, position: int | None) -> None:
        row = rows.get(SignUpRow, (str_id(e.originator_id), str_id(e.peer_id)))
        if row is None:
            rows.add(SignUpRow, talk_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), status=status,
                     position=position, attended=None, rating=None, comment="",
                     signed_up_at=e.timestamp, updated_at=e.timestamp)
        else:  # signed up again after cancelling
            row.status, row.position, row.signed_up_at, row.updated_at = status, position, e.timestamp, e.timestamp

    @staticmethod
    def _row(rows: Rows, e):
        row = rows.get(SignUpRow, (str_id(e.originator_id), str_id(e.peer_id)))
        row.updated_at = e.timestamp
        return row

    @staticmethod
    def _close_gap(rows: Rows, leaving) -> None:
        """Everyone behind the one leaving the waitlist moves up one place."""
        for row in rows.group(SignUpRow, leaving.talk_id):
            if row.status == "waitlisted" and row.position > leaving.position:
                row.position -= 1


# The replayer's rows: lists in this order (``tables`` puts them in the table's).
_ORDER = ("talk_id", "peer_id", "status", "position", "attended", "rating", "comment", "signed_up_at", "updated_at")
_TALK, _PEER, _STATUS, _POSITION, _ATTENDED, _RATING, _COMMENT, _SIGNED_UP_AT, _UPDATED_AT = range(len(_ORDER))


class _AttendanceReplayer(Replayer):
    """``AttendanceView``'s handlers over plain lists, for a replay from zero: the same rows (the
    replay of every view is tested against live processing, and this one against the handlers on
    random histories). Replaying 124k events of the bench history into attendance alone: 12.8-15.7
    -> 10.8-11.6 us an event in all (reading included; alternating runs), most of what is left
    being reading and the rows' writing (the timestamps' text, the INSERT). Keep it in step with
    the handlers: ``AttendanceView.replayer`` falls back to them when they handle an event type
    this does not."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list] = {}
        self.talks: dict[str, list[list]] = {}  # a talk's rows (Rows.group)
        super().__init__({Talk.SignedUp: self._signed_up, Talk.Waitlisted: self._waitlisted,
                          Talk.Promoted: self._promoted, Talk.SignUpCancelled: self._cancelled,
                          Talk.AttendanceRecorded: self._attendance, Talk.FeedbackGiven: self._feedback})

    def tables(self):
        # talk by talk: the primary key's index then takes each talk's rows in neighbouring pages
        # (in the order they were first made, its inserts land all over it)
        rows = (row for rows in self.talks.values() for row in rows)
        return [(SignUpRow, self.in_column_order(SignUpRow, _ORDER, rows))]

    def _put(self, e, status: str, position: int | None) -> None:
        talk, peer = str_id(e.originator_id), str_id(e.peer_id)
        row = self.rows.get((talk, peer))
        if row is None:
            row = self.rows[(talk, peer)] = [talk, peer, status, position, None, None, "", e.timestamp, e.timestamp]
            self.talks.setdefault(talk, []).append(row)
        else:  # signed up again after cancelling
            row[_STATUS], row[_POSITION], row[_SIGNED_UP_AT], row[_UPDATED_AT] = status, position, e.timestamp, e.timestamp

    def _row(self, e) -> list:
        row = self.rows[(str_id(e.originator_id), str_id(e.peer_id))]
        row[_UPDATED_AT] = e.timestamp
        return row

    def _close_gap(self, leaving: list) -> None:
        place = leaving[_POSITION]
        for row in self.talks[leaving[_TALK]]:
            if row[_STATUS] == "waitlisted" and row[_POSITION] > place:
                row[_POSITION] -= 1

    def _signed_up(self, e) -> None:
        self._put(e, "confirmed", None)

    def _waitlisted(self, e) -> None:
        self._put(e, "waitlisted", e.position)

    def _promoted(self, e) -> None:
        row = self._row(e)
        self._close_gap(row)
        row[_STATUS], row[_POSITION] = "confirmed", None

    def _cancelled(self, e) -> None:
        row = self._row(e)
        if row[_STATUS] == "waitlisted":
            self._close_gap(row)
        row[_STATUS], row[_POSITION] = "cancelled", None

    def _attendance(self, e) -> None:
        self._row(e)[_ATTENDED] = e.attended

    def _feedback(self, e) -> None:
        row = self._row(e)
        row[_RATING], row[_COMMENT] = e.rating, e.comment


class _AttendanceSql(sqlreplay.SqlReplayer):
    """``AttendanceView``'s rows made in SQL from the log's seat, attendance and feedback events
    (``projections.sqlreplay``): per talk and peer, the status of its last seat event, the
    waitlisted ranked by when they joined the waitlist (the handlers' positions: each joins at the
    end, and everyone behind one who leaves moves up), the last attendance and feedback recorded,
    the time of the last sign-up and of the last change. Tested against live processing."""

    sql_kinds = tuple(sqlreplay.KIND)

    def sql(self, conn, log, upto) -> None:
        seats, table = sqlreplay.seats(conn, log, upto), SignUpRow.__tablename__
        # each "last" is the maximum of the event's version (10 digits) followed by its value; a
        # waitlisted row's position holds the version it joined the waitlist at until the UPDATE
        # below ranks them (a window over every row, and the sort it needs, cost 0.8-1.0 s at 1.12M
        # events; the 10% still waiting take 0.3 s). No ORDER BY: GROUP BY's sort hands the rows
        # over in key order already (a second sort cost 0.6 s); the order is only for speed
        conn.exec_driver_sql(f"""
            INSERT INTO {table}
                (talk_id, peer_id, status, position, attended, rating, comment, signed_up_at, updated_at)
            SELECT {sqlreplay.id_text('talk_hex')}, {sqlreplay.id_text('peer_hex')},
                CASE status WHEN 2 THEN 'waitlisted' WHEN 4 THEN 'cancelled' ELSE 'confirmed' END,
                CASE WHEN status = 2 THEN waited END,
                attended,
                CAST(substr(feedback, 1, instr(feedback, char(31)) - 1) AS INTEGER),
                coalesce(substr(feedback, instr(feedback, char(31)) + 1), ''),
                {sqlreplay.stamp_sql('signed', to_utc=True)}, {sqlreplay.stamp_sql('updated', to_utc=True)}
            FROM (SELECT talk_hex, peer_hex,
                    {sqlreplay.LAST_STATUS} AS status,
                    max(CASE WHEN kind = 2 THEN version END) AS waited,
                    max(CASE WHEN kind = 5 THEN version * 2 + attended END) % 2 AS attended,
                    substr(max(CASE WHEN kind = 6 THEN (version + 1000000000) || char(31) || rating
                                                       || char(31) || comment END), 12) AS feedback,
                    substr(max(CASE WHEN kind <= 2 THEN (version + 1000000000) || ts END), 11) AS signed,
                    substr(max((version + 1000000000) || ts), 11) AS updated
                  FROM {seats} GROUP BY talk_hex, peer_hex)""")
        conn.exec_driver_sql(f"""
            UPDATE {table} SET position = ranked.place
            FROM (SELECT talk_id, peer_id, row_number() OVER (PARTITION BY talk_id ORDER BY position) AS place
                  FROM {table} WHERE status = 'waitlisted') AS ranked
            WHERE {table}.talk_id = ranked.talk_id AND {table}.peer_id = ranked.peer_id""")
        sqlreplay.mark_made(conn, log, upto, table)  # (notifications' audience reads them: it runs after)
