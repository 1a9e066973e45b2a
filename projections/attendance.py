"""Attendance: every sign-up per talk and per peer (confirmed, waitlisted with its position,
cancelled), whether they came, and the feedback they gave."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.talk import Talk
from commonroom.projections.base import Base, Projection, Rows, UTCDateTime, str_id


class SignUpRow(Base):
    __tablename__ = "signups"
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
