"""Attendance: every sign-up per talk and per peer (confirmed, waitlisted with its position,
cancelled), whether they came, and the feedback they gave."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from commonroom.domain.talk import Talk
from commonroom.projections.base import Base, Projection, UTCDateTime


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

    @singledispatchmethod
    def handle(self, event: object, s: Session) -> None:
        """Not an attendance event."""

    @handle.register
    def _(self, e: Talk.SignedUp, s: Session) -> None:
        self._put(s, e, "confirmed", None)

    @handle.register
    def _(self, e: Talk.Waitlisted, s: Session) -> None:
        self._put(s, e, "waitlisted", e.position)

    @handle.register
    def _(self, e: Talk.Promoted, s: Session) -> None:
        row = self._row(s, e)
        self._close_gap(s, row)
        row.status, row.position = "confirmed", None

    @handle.register
    def _(self, e: Talk.SignUpCancelled, s: Session) -> None:
        row = self._row(s, e)
        if row.status == "waitlisted":
            self._close_gap(s, row)
        row.status, row.position = "cancelled", None

    @handle.register
    def _(self, e: Talk.AttendanceRecorded, s: Session) -> None:
        self._row(s, e).attended = e.attended

    @handle.register
    def _(self, e: Talk.FeedbackGiven, s: Session) -> None:
        row = self._row(s, e)
        row.rating, row.comment = e.rating, e.comment

    @staticmethod
    def _put(s: Session, e, status: str, position: int | None) -> None:
        row = s.get(SignUpRow, (str(e.originator_id), str(e.peer_id)))
        if row is None:
            s.add(SignUpRow(talk_id=str(e.originator_id), peer_id=str(e.peer_id), status=status,
                            position=position, attended=None, rating=None, comment="",
                            signed_up_at=e.timestamp, updated_at=e.timestamp))
        else:  # signed up again after cancelling
            row.status, row.position, row.signed_up_at, row.updated_at = status, position, e.timestamp, e.timestamp

    @staticmethod
    def _row(s: Session, e) -> SignUpRow:
        row = s.get(SignUpRow, (str(e.originator_id), str(e.peer_id)))
        row.updated_at = e.timestamp
        return row

    @staticmethod
    def _close_gap(s: Session, leaving: SignUpRow) -> None:
        """Everyone behind the one leaving the waitlist moves up one place."""
        behind = s.scalars(sa.select(SignUpRow).where(
            SignUpRow.talk_id == leaving.talk_id, SignUpRow.status == "waitlisted",
            SignUpRow.position > leaving.position))
        for row in behind:
            row.position -= 1
