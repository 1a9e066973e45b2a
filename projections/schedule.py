"""Speaker schedule: the programme's shape (weekdays over time, rooms, days off) and every talk's
slot, status and seat counts. The calendar page derives lunch slots from these rows."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.programme import Programme
from commonroom.domain.talk import Talk
from commonroom.projections import sqlreplay
from commonroom.projections.base import Base, Projection, Replayer, Rows, UTCDateTime, str_id


class ProgrammeRow(Base):
    __tablename__ = "programme"
    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    name: Mapped[str] = mapped_column(sa.String(80))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    lunch_start: Mapped[time]
    lunch_minutes: Mapped[int]


class WeekdaysRow(Base):
    __tablename__ = "programme_weekdays"
    effective_from: Mapped[date] = mapped_column(primary_key=True)
    weekdays: Mapped[str] = mapped_column(sa.String(20))  # "0,1,2"


class RoomRow(Base):
    __tablename__ = "programme_rooms"
    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    capacity: Mapped[int]


class DayOffRow(Base):
    __tablename__ = "programme_days_off"
    day: Mapped[date] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(80))


class TalkRow(Base):
    __tablename__ = "talks"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    speaker_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    abstract: Mapped[str] = mapped_column(sa.Text)
    topics: Mapped[str] = mapped_column(sa.String(400))  # comma separated
    status: Mapped[str] = mapped_column(sa.String(12), index=True)
    day: Mapped[date | None] = mapped_column(index=True)
    room_id: Mapped[str | None] = mapped_column(sa.String(40))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(default=0)
    confirmed: Mapped[int] = mapped_column(default=0)
    waitlisted: Mapped[int] = mapped_column(default=0)
    sequence: Mapped[int] = mapped_column(default=0)
    cancel_reason: Mapped[str] = mapped_column(sa.String(300), default="")
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScheduleView(Projection):
    name = "schedule"
    tables = [ProgrammeRow, WeekdaysRow, RoomRow, DayOffRow, TalkRow]
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        rows.load(TalkRow, {str_id(e.originator_id) for e in events if isinstance(e, Talk.Event)})

    def sql_replayer(self) -> Replayer | None:
        return _SeatCountsSql().for_view(self)

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Not a schedule event."""

    # --- programme ------------------------------------------------------------------------------
    @handle.register
    def _(self, e: Programme.Started, rows: Rows) -> None:
        rows.put(ProgrammeRow, id=1, name=e.name, timezone=e.timezone, lunch_start=e.lunch_start,
                 lunch_minutes=e.lunch_minutes)

    @handle.register
    def _(self, e: Programme.LunchChanged, rows: Rows) -> None:
        row = rows.get(ProgrammeRow, 1)
        row.lunch_start, row.lunch_minutes = e.lunch_start, e.lunch_minutes

    @handle.register
    def _(self, e: Programme.WeekdaysChanged, rows: Rows) -> None:
        rows.put(WeekdaysRow, effective_from=e.effective_from, weekdays=",".join(map(str, e.weekdays)))

    @handle.register
    def _(self, e: Programme.RoomAdded, rows: Rows) -> None:
        rows.put(RoomRow, id=e.room_id, name=e.name, capacity=e.capacity)

    @handle.register
    def _(self, e: Programme.RoomCapacityChanged, rows: Rows) -> None:
        rows.get(RoomRow, e.room_id).capacity = e.capacity

    @handle.register
    def _(self, e: Programme.RoomRemoved, rows: Rows) -> None:
        rows.delete(RoomRow, e.room_id)

    @handle.register
    def _(self, e: Programme.DayOffAdded, rows: Rows) -> None:
        rows.put(DayOffRow, day=e.day, reason=e.reason)

    @handle.register
    def _(self, e: Programme.DayOffRemoved, rows: Rows) -> None:
        rows.delete(DayOffRow, e.day)

    # --- talks ----------------------------------------------------------------------------------
    @handle.register
    def _(self, e: Talk.Proposed, rows: Rows) -> None:
        rows.put(TalkRow,
                 id=str_id(e.originator_id), speaker_id=str_id(e.speaker_id), title=e.title, abstract=e.abstract,
                 topics=",".join(e.topics), status="proposed", day=None, room_id=None, starts_at=None,
                 ends_at=None, capacity=0, confirmed=0, waitlisted=0, sequence=0, cancel_reason="",
                 proposed_at=e.timestamp, updated_at=e.timestamp)

    @staticmethod
    def _talk(rows: Rows, e):
        row = rows.get(TalkRow, str_id(e.originator_id))
        row.updated_at = e.timestamp
        return row

    @handle.register
    def _(self, e: Talk.Revised, rows: Rows) -> None:
        row = self._talk(rows, e)
        row.title, row.abstract, row.topics = e.title, e.abstract, ",".join(e.topics)

    @handle.register
    def _(self, e: Talk.Withdrawn, rows: Rows) -> None:
        self._talk(rows, e).status = "withdrawn"

    @handle.register(Talk.Scheduled)
    @handle.register(Talk.Rescheduled)
    def _(self, e, rows: Rows) -> None:
        row = self._talk(rows, e)
        row.status, row.day, row.room_id = "scheduled", e.day, e.room_id
        row.starts_at, row.ends_at, row.capacity = e.starts_at, e.ends_at, e.capacity
        if isinstance(e, Talk.Rescheduled):
            row.sequence += 1

    @handle.register
    def _(self, e: Talk.Cancelled, rows: Rows) -> None:
        row = self._talk(rows, e)
        row.status, row.cancel_reason = "cancelled", e.reason
        row.sequence += 1

    @handle.register
    def _(self, e: Talk.SignedUp, rows: Rows) -> None:
        self._talk(rows, e).confirmed += 1

    @handle.register
    def _(self, e: Talk.Waitlisted, rows: Rows) -> None:
        self._talk(rows, e).waitlisted += 1

    @handle.register
    def _(self, e: Talk.Promoted, rows: Rows) -> None:
        row = self._talk(rows, e)
        row.waitlisted -= 1
        row.confirmed += 1

    @handle.register
    def _(self, e: Talk.SignUpCancelled, rows: Rows) -> None:
        row = self._talk(rows, e)
        if e.was_waitlisted:
            row.waitlisted -= 1
        else:
            row.confirmed -= 1


class _SeatCountsSql(sqlreplay.SqlReplayer):
    """The talks' seat counts made in SQL from the log's seat events (``projections.sqlreplay``),
    after the handlers made the talks' rows from their other events: each count is the sum of the
    changes, and a talk's ``updated_at`` the time of its last event this view handles. Tested
    against live processing."""

    partial = True
    sql_kinds = sqlreplay.SEATS

    def sql(self, conn, log, upto) -> None:
        seats = sqlreplay.seats(conn, log, upto)
        registry = ScheduleView.__dict__["handle"].dispatcher.registry
        talk_topics = ", ".join(f"'{topic}'" for topic in sqlreplay.topics(
            [kind for kind in registry if kind is not object and issubclass(kind, Talk.Event)]))
        conn.exec_driver_sql(f"""
            UPDATE {TalkRow.__tablename__} SET
                confirmed = {TalkRow.__tablename__}.confirmed + s.confirmed,
                waitlisted = {TalkRow.__tablename__}.waitlisted + s.waitlisted,
                updated_at = (SELECT {sqlreplay.stamp_sql('ts', to_utc=True)} FROM (
                    SELECT json_extract(e.state, '$.timestamp._data_') AS ts FROM {log.schema}.{log.table} e
                    WHERE e.originator_id = s.talk_hex AND e.topic IN ({talk_topics}) AND e.rowid <= {int(upto)}
                    ORDER BY e.originator_version DESC LIMIT 1))
            FROM (SELECT talk_hex, {sqlreplay.id_text('talk_hex')} AS talk_id,
                    sum({sqlreplay.CONFIRMED_CHANGE}) AS confirmed, sum({sqlreplay.WAITLISTED_CHANGE}) AS waitlisted
                  FROM {seats} WHERE kind <= 4 GROUP BY talk_hex) AS s
            WHERE {TalkRow.__tablename__}.id = s.talk_id""")
