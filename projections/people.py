"""People: who is registered, their department, role, skills offered and wanted (and the login hash)."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from commonroom.domain.peer import Peer
from commonroom.projections.base import Base, Projection, UTCDateTime


class PeerRow(Base):
    __tablename__ = "peers"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    department: Mapped[str] = mapped_column(sa.String(80), index=True)
    timezone: Mapped[str] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_organizer: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PeerSkillRow(Base):
    __tablename__ = "peer_skills"
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(5), primary_key=True)  # "offer" | "want"
    skill: Mapped[str] = mapped_column(sa.String(60), primary_key=True)


class PeopleView(Projection):
    name = "people"
    tables = [PeerRow, PeerSkillRow]

    @singledispatchmethod
    def handle(self, event: object, s: Session) -> None:
        """Not a people event."""

    @handle.register
    def _(self, e: Peer.Registered, s: Session) -> None:
        s.merge(PeerRow(
            id=str(e.originator_id), name=e.name, email=e.email, department=e.department,
            timezone=e.timezone, password_hash=e.password_hash, is_organizer=False, active=True,
            registered_at=e.timestamp,
        ))

    @handle.register
    def _(self, e: Peer.ProfileChanged, s: Session) -> None:
        row = s.get(PeerRow, str(e.originator_id))
        row.name, row.email, row.department, row.timezone = e.name, e.email, e.department, e.timezone

    @handle.register
    def _(self, e: Peer.PasswordChanged, s: Session) -> None:
        s.get(PeerRow, str(e.originator_id)).password_hash = e.password_hash

    @handle.register
    def _(self, e: Peer.OrganizerGranted, s: Session) -> None:
        s.get(PeerRow, str(e.originator_id)).is_organizer = True

    @handle.register
    def _(self, e: Peer.OrganizerRevoked, s: Session) -> None:
        s.get(PeerRow, str(e.originator_id)).is_organizer = False

    @handle.register
    def _(self, e: Peer.Deactivated, s: Session) -> None:
        s.get(PeerRow, str(e.originator_id)).active = False

    @handle.register
    def _(self, e: Peer.SkillOffered, s: Session) -> None:
        s.merge(PeerSkillRow(peer_id=str(e.originator_id), kind="offer", skill=e.skill))

    @handle.register
    def _(self, e: Peer.SkillWanted, s: Session) -> None:
        s.merge(PeerSkillRow(peer_id=str(e.originator_id), kind="want", skill=e.skill))

    @handle.register
    def _(self, e: Peer.SkillWithdrawn, s: Session) -> None:
        self._drop(s, e, "offer")

    @handle.register
    def _(self, e: Peer.WantedSkillDropped, s: Session) -> None:
        self._drop(s, e, "want")

    @staticmethod
    def _drop(s: Session, e, kind: str) -> None:
        row = s.get(PeerSkillRow, (str(e.originator_id), kind, e.skill))
        if row is not None:
            s.delete(row)
