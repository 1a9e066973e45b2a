"""People: who is registered, their department, role, skills offered and wanted (and the login hash)."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.peer import Peer
from commonroom.projections.base import Base, Projection, Rows, UTCDateTime, str_id


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
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        ids = {str_id(e.originator_id) for e in events if isinstance(e, Peer.Event)}
        rows.load(PeerRow, ids)
        rows.load(PeerSkillRow, ids)

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Not a people event."""

    @handle.register
    def _(self, e: Peer.Registered, rows: Rows) -> None:
        rows.put(PeerRow,
                 id=str_id(e.originator_id), name=e.name, email=e.email, department=e.department,
                 timezone=e.timezone, password_hash=e.password_hash, is_organizer=False, active=True,
                 registered_at=e.timestamp)

    @handle.register
    def _(self, e: Peer.ProfileChanged, rows: Rows) -> None:
        row = rows.get(PeerRow, str_id(e.originator_id))
        row.name, row.email, row.department, row.timezone = e.name, e.email, e.department, e.timezone

    @handle.register
    def _(self, e: Peer.PasswordChanged, rows: Rows) -> None:
        rows.get(PeerRow, str_id(e.originator_id)).password_hash = e.password_hash

    @handle.register
    def _(self, e: Peer.OrganizerGranted, rows: Rows) -> None:
        rows.get(PeerRow, str_id(e.originator_id)).is_organizer = True

    @handle.register
    def _(self, e: Peer.OrganizerRevoked, rows: Rows) -> None:
        rows.get(PeerRow, str_id(e.originator_id)).is_organizer = False

    @handle.register
    def _(self, e: Peer.Deactivated, rows: Rows) -> None:
        rows.get(PeerRow, str_id(e.originator_id)).active = False

    @handle.register
    def _(self, e: Peer.SkillOffered, rows: Rows) -> None:
        rows.put(PeerSkillRow, peer_id=str_id(e.originator_id), kind="offer", skill=e.skill)

    @handle.register
    def _(self, e: Peer.SkillWanted, rows: Rows) -> None:
        rows.put(PeerSkillRow, peer_id=str_id(e.originator_id), kind="want", skill=e.skill)

    @handle.register
    def _(self, e: Peer.SkillWithdrawn, rows: Rows) -> None:
        rows.delete(PeerSkillRow, (str_id(e.originator_id), "offer", e.skill))

    @handle.register
    def _(self, e: Peer.WantedSkillDropped, rows: Rows) -> None:
        rows.delete(PeerSkillRow, (str_id(e.originator_id), "want", e.skill))
