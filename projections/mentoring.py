"""Mentoring read model: programmes, mentors, applications, mentorships and their contacts,
plus the health report (pairs without contact for three weeks)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import singledispatchmethod
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.mentoring import MentoringProgramme, Mentorship
from commonroom.projections.base import Base, Projection, Rows, str_id

QUIET_DAYS = 21


class MentoringProgrammeRow(Base):
    __tablename__ = "mentoring_programmes"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class MentoringMemberRow(Base):
    """A mentor's profile or a mentee's application (``role``), as JSON lists for skills/languages."""

    __tablename__ = "mentoring_members"
    programme_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(8))  # "mentor" | "mentee"
    skills: Mapped[str] = mapped_column(sa.Text)  # mentor skills or mentee needs, JSON list
    goals: Mapped[str] = mapped_column(sa.Text, default="")
    background: Mapped[str] = mapped_column(sa.String(80), default="")
    languages: Mapped[str] = mapped_column(sa.Text)
    timezone: Mapped[str] = mapped_column(sa.String(64))
    capacity: Mapped[int] = mapped_column(default=0)
    paired: Mapped[bool] = mapped_column(default=False)


class MentorshipRow(Base):
    __tablename__ = "mentorships"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    programme_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    mentor_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    mentee_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    started_on: Mapped[date] = mapped_column(sa.Date)
    last_contact_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    contacts: Mapped[int] = mapped_column(default=0)
    minutes: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    outcome: Mapped[str] = mapped_column(sa.String(30), default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")


class MentoringContactRow(Base):
    __tablename__ = "mentoring_contacts"
    event_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    mentorship_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    logged_by: Mapped[str] = mapped_column(sa.String(36))
    on: Mapped[date] = mapped_column(sa.Date)
    minutes: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(20))
    note: Mapped[str] = mapped_column(sa.Text, default="")


class MentoringView(Projection):
    name = "mentoring"
    tables = [MentoringProgrammeRow, MentoringMemberRow, MentorshipRow, MentoringContactRow]
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        rows.load(MentoringProgrammeRow, {str_id(e.originator_id) for e in events
                                          if isinstance(e, MentoringProgramme.Started)})
        rows.load_keys(MentoringMemberRow, {
            (str_id(e.originator_id), str(e.mentee_id if hasattr(e, "mentee_id") else e.peer_id)) for e in events
            if isinstance(e, (MentoringProgramme.MentorJoined, MentoringProgramme.Applied,
                              MentoringProgramme.Paired, MentoringProgramme.Released))})
        rows.load(MentorshipRow, {str_id(e.originator_id) for e in events if isinstance(e, Mentorship.Event)})
        # contacts are only added (``rows.add``): none to read

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Not a mentoring event."""

    @handle.register
    def _(self, e: MentoringProgramme.Started, rows: Rows) -> None:
        rows.put(MentoringProgrammeRow, id=str_id(e.originator_id), name=e.name, description=e.description,
                 started_at=e.timestamp)

    @handle.register
    def _(self, e: MentoringProgramme.MentorJoined, rows: Rows) -> None:
        rows.put(MentoringMemberRow,
                 programme_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), role="mentor",
                 skills=json.dumps(e.skills), goals="", background=e.background,
                 languages=json.dumps(e.languages), timezone=e.timezone, capacity=e.capacity, paired=False)

    @handle.register
    def _(self, e: MentoringProgramme.Applied, rows: Rows) -> None:
        rows.put(MentoringMemberRow,
                 programme_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), role="mentee",
                 skills=json.dumps(e.needs), goals=e.goals, background=e.background,
                 languages=json.dumps(e.languages), timezone=e.timezone, capacity=0, paired=False)

    @handle.register
    def _(self, e: MentoringProgramme.Paired, rows: Rows) -> None:
        rows.get(MentoringMemberRow, (str_id(e.originator_id), str_id(e.mentee_id))).paired = True

    @handle.register
    def _(self, e: MentoringProgramme.Released, rows: Rows) -> None:
        rows.delete(MentoringMemberRow, (str_id(e.originator_id), str_id(e.mentee_id)))

    @handle.register
    def _(self, e: Mentorship.Started, rows: Rows) -> None:
        rows.put(MentorshipRow,
                 id=str_id(e.originator_id), programme_id=str_id(e.programme_id), mentor_id=str_id(e.mentor_id),
                 mentee_id=str_id(e.mentee_id), started_on=e.started_on, last_contact_on=None, contacts=0, minutes=0,
                 active=True, outcome="", summary="")

    @handle.register
    def _(self, e: Mentorship.ContactLogged, rows: Rows) -> None:
        rows.add(MentoringContactRow, event_id=f"{e.originator_id}:{e.originator_version}",
                 mentorship_id=str_id(e.originator_id), logged_by=str_id(e.by), on=e.on, minutes=e.minutes,
                 kind=e.kind, note=e.note)
        row = rows.get(MentorshipRow, str_id(e.originator_id))
        row.contacts += 1
        row.minutes += e.minutes
        if row.last_contact_on is None or e.on > row.last_contact_on:
            row.last_contact_on = e.on

    @handle.register
    def _(self, e: Mentorship.Ended, rows: Rows) -> None:
        row = rows.get(MentorshipRow, str_id(e.originator_id))
        row.active, row.outcome, row.summary = False, e.outcome, e.summary


# --- read-side queries ----------------------------------------------------------------------------
def programmes(engine: sa.Engine) -> list:
    with engine.connect() as c:
        return c.execute(sa.select(MentoringProgrammeRow).order_by(MentoringProgrammeRow.started_at)).all()


def programme(engine: sa.Engine, programme_id: UUID | str):
    with engine.connect() as c:
        return c.execute(sa.select(MentoringProgrammeRow)
                         .where(MentoringProgrammeRow.id == str(programme_id))).first()


def members(engine: sa.Engine, programme_id: UUID | str) -> list:
    with engine.connect() as c:
        return c.execute(sa.select(MentoringMemberRow)
                         .where(MentoringMemberRow.programme_id == str(programme_id))
                         .order_by(MentoringMemberRow.role, MentoringMemberRow.peer_id)).all()


def mentorships(engine: sa.Engine, programme_id: UUID | str | None = None,
                peer_id: UUID | str | None = None) -> list:
    query = sa.select(MentorshipRow).order_by(MentorshipRow.started_on.desc(), MentorshipRow.id)
    if programme_id is not None:
        query = query.where(MentorshipRow.programme_id == str(programme_id))
    if peer_id is not None:
        query = query.where(sa.or_(MentorshipRow.mentor_id == str(peer_id),
                                   MentorshipRow.mentee_id == str(peer_id)))
    with engine.connect() as c:
        return c.execute(query).all()


def mentorship(engine: sa.Engine, mentorship_id: UUID | str):
    with engine.connect() as c:
        return c.execute(sa.select(MentorshipRow).where(MentorshipRow.id == str(mentorship_id))).first()


def contacts(engine: sa.Engine, mentorship_id: UUID | str) -> list:
    with engine.connect() as c:
        return c.execute(sa.select(MentoringContactRow)
                         .where(MentoringContactRow.mentorship_id == str(mentorship_id))
                         .order_by(MentoringContactRow.on.desc(), MentoringContactRow.event_id)).all()


def quiet_pairs(engine: sa.Engine, today: date, programme_id: UUID | str | None = None) -> list:
    """Health report: running pairs with no contact (or none since they started) for three weeks."""
    cutoff = today - timedelta(days=QUIET_DAYS)
    last = sa.func.coalesce(MentorshipRow.last_contact_on, MentorshipRow.started_on)
    query = sa.select(MentorshipRow).where(MentorshipRow.active.is_(True), last <= cutoff).order_by(last)
    if programme_id is not None:
        query = query.where(MentorshipRow.programme_id == str(programme_id))
    with engine.connect() as c:
        return c.execute(query).all()
