"""Read-side queries over the read models (pages and the API share these; never load aggregates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from commonroom.projections.attendance import SignUpRow
from commonroom.projections.people import PeerRow
from commonroom.projections.schedule import DayOffRow, ProgrammeRow, RoomRow, TalkRow, WeekdaysRow


def talk_rows_query():
    return (
        sa.select(TalkRow, PeerRow.name.label("speaker_name"), RoomRow.name.label("room_name"))
        .join(PeerRow, PeerRow.id == TalkRow.speaker_id, isouter=True)
        .join(RoomRow, RoomRow.id == TalkRow.room_id, isouter=True)
    )


def upcoming_talks(engine: sa.Engine, limit: int = 20, now=None) -> list:
    from datetime import datetime, timezone

    now = now or datetime.now(timezone.utc)
    query = (talk_rows_query().where(TalkRow.status == "scheduled", TalkRow.starts_at >= now)
             .order_by(TalkRow.starts_at).limit(limit))
    with Session(engine) as c:
        return c.execute(query).all()


def signups_of_peer(engine: sa.Engine, peer_id: UUID) -> list:
    query = (
        sa.select(SignUpRow, TalkRow.title, TalkRow.starts_at, TalkRow.status.label("talk_status"))
        .join(TalkRow, TalkRow.id == SignUpRow.talk_id)
        .where(SignUpRow.peer_id == str(peer_id), SignUpRow.status != "cancelled")
        .order_by(TalkRow.starts_at.desc())
    )
    with Session(engine) as c:
        return c.execute(query).all()


# --- the programme calendar, talk pages and feeds -----------------------------------------------


def as_zone(moment: datetime | None, tz: str) -> datetime | None:
    """A stored instant shown in ``tz``. SQLite keeps the wall time it was given without its
    offset (talk times are recorded in the programme's zone), PostgreSQL keeps the instant."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(ZoneInfo(tz))


@dataclass
class ProgrammeShape:
    """The programme's read model in one piece: enough to derive every lunch slot."""

    programme: ProgrammeRow
    weekday_history: list[tuple[date, list[int]]]
    rooms: list[RoomRow]
    days_off: dict[date, str]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.programme.timezone)

    def weekdays_on(self, day: date) -> list[int]:
        current: list[int] = []
        for effective_from, weekdays in self.weekday_history:
            if effective_from <= day:
                current = weekdays
        return current

    def current_weekdays(self, today: date) -> list[int]:
        return self.weekdays_on(today)

    def is_lunch_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays_on(day) and day not in self.days_off

    def lunch_starts(self, day: date) -> datetime:
        return datetime.combine(day, self.programme.lunch_start, tzinfo=self.zone)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()


@dataclass
class Slot:
    day: date
    room_id: str
    room_name: str
    capacity: int
    starts_at: datetime
    talk: Any = None  # a talk_rows_query row when taken

    @property
    def value(self) -> str:
        """How a slot travels in a form: ``YYYY-MM-DD|room_id``."""
        return f"{self.day.isoformat()}|{self.room_id}"


@dataclass
class CalendarDay:
    day: date
    day_off: str | None = None
    slots: list[Slot] = field(default_factory=list)


@dataclass
class CalendarWeek:
    monday: date
    days: list[CalendarDay]


def programme_shape(engine: sa.Engine) -> ProgrammeShape | None:
    with Session(engine) as s:
        programme = s.scalars(sa.select(ProgrammeRow)).first()
        if programme is None:
            return None
        history = [(r.effective_from, [int(d) for d in r.weekdays.split(",") if d])
                   for r in s.scalars(sa.select(WeekdaysRow).order_by(WeekdaysRow.effective_from))]
        rooms = list(s.scalars(sa.select(RoomRow).order_by(RoomRow.name)))
        days_off = {r.day: r.reason for r in s.scalars(sa.select(DayOffRow).order_by(DayOffRow.day))}
    return ProgrammeShape(programme, history, rooms, days_off)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def calendar_weeks(engine: sa.Engine, shape: ProgrammeShape, first_monday: date, weeks: int) -> list[CalendarWeek]:
    """Weeks of lunch days from ``first_monday``: each lunch day's rooms, free or holding a talk."""
    last_day = first_monday + timedelta(days=7 * weeks - 1)
    query = talk_rows_query().where(
        TalkRow.status == "scheduled", TalkRow.day >= first_monday, TalkRow.day <= last_day)
    with Session(engine) as c:
        booked = {(row.TalkRow.day, row.TalkRow.room_id): row for row in c.execute(query)}
    result = []
    for week in range(weeks):
        monday = first_monday + timedelta(days=7 * week)
        days = []
        for offset in range(7):
            day = monday + timedelta(days=offset)
            if day in shape.days_off:
                days.append(CalendarDay(day, day_off=shape.days_off[day]))
            elif shape.is_lunch_day(day):
                days.append(CalendarDay(day, slots=_slots(shape, day, booked)))
        result.append(CalendarWeek(monday, days))
    return result


def _slots(shape: ProgrammeShape, day: date, booked: dict) -> list[Slot]:
    starts = shape.lunch_starts(day)
    slots = [Slot(day, room.id, room.name, room.capacity, starts, booked.get((day, room.id)))
             for room in shape.rooms]
    known = {room.id for room in shape.rooms}
    for (talk_day, room_id), row in booked.items():  # a talk still held by a room since removed
        if talk_day == day and room_id not in known:
            slots.append(Slot(day, room_id, room_id, row.TalkRow.capacity, starts, row))
    return slots


def free_slots(engine: sa.Engine, shape: ProgrammeShape, now: datetime, weeks: int = 8) -> list[Slot]:
    """Free lunch slots from now on, for the slot chooser."""
    first = monday_of(shape.today(now))
    return [slot for week in calendar_weeks(engine, shape, first, weeks) for day in week.days
            for slot in day.slots if slot.talk is None and slot.starts_at > now]


def talk_row(engine: sa.Engine, talk_id: UUID):
    with Session(engine) as c:
        return c.execute(talk_rows_query().where(TalkRow.id == str(talk_id))).first()


def talks_of_speaker(engine: sa.Engine, speaker_id: UUID) -> list:
    query = talk_rows_query().where(TalkRow.speaker_id == str(speaker_id)).order_by(
        TalkRow.status != "scheduled", TalkRow.day, TalkRow.proposed_at.desc())
    with Session(engine) as c:
        return c.execute(query).all()


def signups_of_talk(engine: sa.Engine, talk_id: UUID) -> list:
    """Confirmed first (in sign-up order), then the waitlist in position order."""
    query = (
        sa.select(SignUpRow, PeerRow.name.label("peer_name"))
        .join(PeerRow, PeerRow.id == SignUpRow.peer_id, isouter=True)
        .where(SignUpRow.talk_id == str(talk_id), SignUpRow.status != "cancelled")
        .order_by(SignUpRow.status != "confirmed", SignUpRow.position, SignUpRow.signed_up_at)
    )
    with Session(engine) as c:
        return c.execute(query).all()


def signup_of(engine: sa.Engine, talk_id: UUID, peer_id: UUID) -> SignUpRow | None:
    query = sa.select(SignUpRow).where(SignUpRow.talk_id == str(talk_id), SignUpRow.peer_id == str(peer_id))
    with Session(engine) as c:
        return c.scalars(query).first()


def feedback_summary(engine: sa.Engine, talk_id: UUID) -> tuple[float | None, int]:
    query = sa.select(sa.func.avg(SignUpRow.rating), sa.func.count(SignUpRow.rating)).where(
        SignUpRow.talk_id == str(talk_id), SignUpRow.rating.is_not(None))
    with Session(engine) as c:
        average, count = c.execute(query).one()
    return (float(average) if average is not None else None), int(count)


def feed_talks(engine: sa.Engine, peer_id: UUID | None = None) -> list:
    """Talks with a time (scheduled or cancelled); for a peer, their own and their sign-ups'."""
    query = talk_rows_query().where(TalkRow.status.in_(("scheduled", "cancelled")), TalkRow.starts_at.is_not(None))
    if peer_id is not None:
        signed_up = sa.select(SignUpRow.talk_id).where(
            SignUpRow.peer_id == str(peer_id), SignUpRow.status.in_(("confirmed", "waitlisted")))
        query = query.where(sa.or_(TalkRow.speaker_id == str(peer_id), TalkRow.id.in_(signed_up)))
    with Session(engine) as c:
        return c.execute(query.order_by(TalkRow.starts_at)).all()


def peer_names(engine: sa.Engine, peer_ids: set[str]) -> dict[str, str]:
    with Session(engine) as s:
        return dict(s.execute(sa.select(PeerRow.id, PeerRow.name).where(PeerRow.id.in_(peer_ids))).all())


def rooms(engine: sa.Engine) -> list[RoomRow]:
    with Session(engine) as s:
        return list(s.scalars(sa.select(RoomRow).order_by(RoomRow.name)))


# --- API reads ----------------------------------------------------------------------------------
# Flat rows of plain columns (``row.title``, ``row.speaker_name``), the same from a Session or a
# Connection: the JSON API reads only these.


def _columns(*models) -> list:
    return [column for model in models for column in model.__table__.c]


def _api_talks_query():
    return (
        sa.select(*_columns(TalkRow), PeerRow.name.label("speaker_name"), RoomRow.name.label("room_name"))
        .join(PeerRow, PeerRow.id == TalkRow.speaker_id, isouter=True)
        .join(RoomRow, RoomRow.id == TalkRow.room_id, isouter=True)
    )


def api_peers(engine: sa.Engine) -> list:
    """Active peers by name (the API chooses which of their columns to show)."""
    query = sa.select(*_columns(PeerRow)).where(PeerRow.active.is_(True)).order_by(PeerRow.name, PeerRow.id)
    with Session(engine) as c:
        return c.execute(query).all()


def api_peer(engine: sa.Engine, peer_id: UUID):
    query = sa.select(*_columns(PeerRow)).where(PeerRow.id == str(peer_id), PeerRow.active.is_(True))
    with Session(engine) as c:
        return c.execute(query).first()


def api_peer_by_email(engine: sa.Engine, email: str):
    query = sa.select(*_columns(PeerRow)).where(PeerRow.email == email, PeerRow.active.is_(True))
    with Session(engine) as c:
        return c.execute(query).first()


def api_talk(engine: sa.Engine, talk_id: UUID):
    with Session(engine) as c:
        return c.execute(_api_talks_query().where(TalkRow.id == str(talk_id))).first()


def api_talks(engine: sa.Engine, status: str | None, start: date | None, end: date | None) -> list:
    """Talks filtered by status and by lunch day (a day filter leaves out unscheduled proposals)."""
    query = _api_talks_query()
    if status:
        query = query.where(TalkRow.status == status)
    if start:
        query = query.where(TalkRow.day >= start)
    if end:
        query = query.where(TalkRow.day <= end)
    with Session(engine) as c:
        return c.execute(query.order_by(TalkRow.day.is_(None), TalkRow.day, TalkRow.proposed_at)).all()


def api_signup(engine: sa.Engine, talk_id: UUID, peer_id: UUID):
    query = sa.select(*_columns(SignUpRow)).where(
        SignUpRow.talk_id == str(talk_id), SignUpRow.peer_id == str(peer_id))
    with Session(engine) as c:
        return c.execute(query).first()


def api_signups_of_talk(engine: sa.Engine, talk_id: UUID) -> list:
    """Live sign-ups with names: confirmed first in sign-up order, then the waitlist in order."""
    query = (
        sa.select(*_columns(SignUpRow), PeerRow.name.label("peer_name"))
        .join(PeerRow, PeerRow.id == SignUpRow.peer_id, isouter=True)
        .where(SignUpRow.talk_id == str(talk_id), SignUpRow.status != "cancelled")
        .order_by(SignUpRow.status != "confirmed", SignUpRow.position, SignUpRow.signed_up_at)
    )
    with Session(engine) as c:
        return c.execute(query).all()


def api_signups_of_peer(engine: sa.Engine, peer_id: UUID) -> list:
    """Every live sign-up of a peer with its talk's title, day and status, soonest first."""
    query = (
        sa.select(*_columns(SignUpRow), TalkRow.title, TalkRow.day, TalkRow.status.label("talk_status"))
        .join(TalkRow, TalkRow.id == SignUpRow.talk_id)
        .where(SignUpRow.peer_id == str(peer_id), SignUpRow.status != "cancelled")
        .order_by(TalkRow.day, TalkRow.id)
    )
    with Session(engine) as c:
        return c.execute(query).all()


def api_room_exists(engine: sa.Engine, room_id: str) -> bool:
    with Session(engine) as c:
        return c.execute(sa.select(RoomRow.id).where(RoomRow.id == room_id)).first() is not None


def api_programme(engine: sa.Engine):
    with Session(engine) as c:
        return c.execute(sa.select(*_columns(ProgrammeRow))).first()


@dataclass
class ApiLunchDay:
    day: date
    day_off: str | None
    rooms: list  # RoomRow rows, plus a talk's room since removed
    talks: dict  # room id -> talk_rows_query row


def api_lunch_days(engine: sa.Engine, start: date, days: int) -> list[ApiLunchDay]:
    """Lunch days (and days off that would have been lunch days) from ``start``: the weekdays in
    force on each date (from ``WeekdaysRow.effective_from``), its rooms and the talks holding them."""
    end = start + timedelta(days=days - 1)
    with Session(engine) as c:
        history = [(r.effective_from, {int(d) for d in r.weekdays.split(",") if d})
                   for r in c.execute(sa.select(*_columns(WeekdaysRow)).order_by(WeekdaysRow.effective_from))]
        rooms = c.execute(sa.select(*_columns(RoomRow)).order_by(RoomRow.name)).all()
        days_off = {r.day: r.reason for r in c.execute(
            sa.select(*_columns(DayOffRow)).where(DayOffRow.day >= start, DayOffRow.day <= end))}
        talks = c.execute(_api_talks_query().where(
            TalkRow.status == "scheduled", TalkRow.day >= start, TalkRow.day <= end)).all()
    result = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        weekdays = next((w for since, w in reversed(history) if since <= day), set())
        if day.weekday() not in weekdays:
            continue
        booked = {t.room_id: t for t in talks if t.day == day}
        known = {room.id for room in rooms}
        gone = [_GoneRoom(t.room_id, t.room_id, t.capacity)
                for t in booked.values() if t.room_id not in known]
        result.append(ApiLunchDay(day, days_off.get(day), [] if day in days_off else [*rooms, *gone], booked))
    return result


@dataclass
class _GoneRoom:
    id: str
    name: str
    capacity: int
