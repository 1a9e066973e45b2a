"""Notifications: an outbox of who must be told what (promoted from the waitlist, talk moved or
cancelled, reminder the day before). Rows have deterministic ids (event id + recipient) so a
rebuild produces the same outbox, and delivery (tracked separately) is never repeated."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.talk import Talk
from commonroom.projections.base import Base, Projection, Rows, UTCDateTime, str_id


class NotificationRow(Base):
    __tablename__ = "notifications"
    id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    talk_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(20))  # promoted | moved | cancelled | reminder | signed_up
    message: Mapped[str] = mapped_column(sa.String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AudienceRow(Base):
    """Who is signed up (confirmed or waitlisted) to each talk: whom a change must reach."""

    __tablename__ = "notification_audience"
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    confirmed: Mapped[bool]


class TalkTitleRow(Base):
    __tablename__ = "notification_talks"
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120))


class NotificationsView(Projection):
    name = "notifications"
    tables = [NotificationRow, AudienceRow, TalkTitleRow]
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        told = (Talk.Rescheduled, Talk.Cancelled, Talk.Reminded)
        rows.load(AudienceRow, {str_id(e.originator_id) for e in events if isinstance(e, told)})
        rows.load_keys(AudienceRow, {(str_id(e.originator_id), str_id(e.peer_id)) for e in events
                                     if isinstance(e, (Talk.SignedUp, Talk.Waitlisted, Talk.SignUpCancelled,
                                                       Talk.Promoted))})
        rows.load(TalkTitleRow, {str_id(e.originator_id) for e in events
                                 if isinstance(e, (*told, Talk.Promoted, Talk.Proposed, Talk.Revised))})
        # notification rows are only added (``rows.add``): none to read

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Nobody needs telling."""

    @handle.register(Talk.Proposed)
    @handle.register(Talk.Revised)
    def _(self, e, rows: Rows) -> None:
        rows.put(TalkTitleRow, talk_id=str_id(e.originator_id), title=e.title)

    @handle.register
    def _(self, e: Talk.SignedUp, rows: Rows) -> None:
        rows.put(AudienceRow, talk_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), confirmed=True)

    @handle.register
    def _(self, e: Talk.Waitlisted, rows: Rows) -> None:
        rows.put(AudienceRow, talk_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), confirmed=False)

    @handle.register
    def _(self, e: Talk.SignUpCancelled, rows: Rows) -> None:
        rows.delete(AudienceRow, (str_id(e.originator_id), str_id(e.peer_id)))

    @handle.register
    def _(self, e: Talk.Promoted, rows: Rows) -> None:
        rows.put(AudienceRow, talk_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), confirmed=True)
        self._tell(rows, e, [str_id(e.peer_id)], "promoted",
                   "A seat came free: you moved up from the waitlist for “{title}”. See you there!")

    @handle.register
    def _(self, e: Talk.Rescheduled, rows: Rows) -> None:
        self._tell(rows, e, self._audience(rows, e), "moved",
                   f"“{{title}}” moved to {e.starts_at:%a %d %b %Y, %H:%M}. Your place is kept.")

    @handle.register
    def _(self, e: Talk.Cancelled, rows: Rows) -> None:
        reason = f" Reason: {e.reason}" if e.reason else ""
        self._tell(rows, e, self._audience(rows, e), "cancelled", "“{title}” has been cancelled." + reason)

    @handle.register
    def _(self, e: Talk.Reminded, rows: Rows) -> None:
        self._tell(rows, e, self._audience(rows, e, confirmed_only=True), "reminder",
                   "Reminder: “{title}” is tomorrow at lunchtime.")

    @staticmethod
    def _audience(rows: Rows, e, confirmed_only: bool = False) -> list[str]:
        return sorted(row.peer_id for row in rows.group(AudienceRow, str_id(e.originator_id))
                      if row.confirmed or not confirmed_only)

    @staticmethod
    def _tell(rows: Rows, e, peer_ids: list[str], kind: str, template: str) -> None:
        title_row = rows.get(TalkTitleRow, str_id(e.originator_id))
        message = template.format(title=title_row.title if title_row else "a talk")
        for peer_id in peer_ids:
            rows.add(NotificationRow,
                     id=f"{e.originator_id}:{e.originator_version}:{peer_id}", peer_id=peer_id,
                     talk_id=str_id(e.originator_id), kind=kind, message=message[:400], created_at=e.timestamp)
