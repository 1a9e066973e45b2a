"""The "mini-scule" programme: which weekdays it runs, when lunch is, rooms, days off.

Lunch slots are derived: a date is a lunch day when its weekday is in the weekdays in force on
that date (the programme grew from one day a week to five) and it is not a day off.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from commonroom.domain.copying import FastCopy
from commonroom.domain.errors import DomainError, InvalidValue, NotFound, require_text
from commonroom.domain.peer import check_timezone

PROGRAMME_ID = uuid5(NAMESPACE_URL, "commonroom:programme")
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ROOM_ID_RE = re.compile(r"[^a-z0-9]+")


def room_slug(name: str) -> str:
    return ROOM_ID_RE.sub("-", name.lower()).strip("-")[:40] or "room"


class Programme(FastCopy, Aggregate):
    """The one lunch-talk programme of the organisation (a singleton with a fixed id)."""

    @staticmethod
    def create_id() -> UUID:
        return PROGRAMME_ID

    @event("Started")
    def __init__(
        self, name: str, timezone: str, lunch_start: time, lunch_minutes: int, by: UUID
    ) -> None:
        self.name, self.timezone = name, timezone
        self.lunch_start, self.lunch_minutes = lunch_start, lunch_minutes
        self.weekday_history: list[list] = []  # [[effective_from, [weekday ints]], ...] sorted
        self.rooms: dict[str, dict] = {}  # room_id -> {"name", "capacity"}
        self.days_off: dict[str, str] = {}  # iso date -> reason

    @staticmethod
    def validate_lunch(start: object, minutes: object) -> tuple[time, int]:
        if not isinstance(start, time):
            raise InvalidValue("lunch_start", "lunch start must be a time like 12:00")
        if not isinstance(minutes, int) or not 10 <= minutes <= 120:
            raise InvalidValue("lunch_minutes", "lunch length must be 10 to 120 minutes")
        return start, minutes

    # --- weekdays -------------------------------------------------------------------------------
    def change_weekdays(self, weekdays: list[int], effective_from: date, by: UUID) -> None:
        days = sorted(set(weekdays))
        if not days or any(not isinstance(d, int) or not 0 <= d <= 4 for d in days):
            raise InvalidValue("weekdays", "choose one to five weekdays (Mon to Fri)")
        if not isinstance(effective_from, date):
            raise InvalidValue("effective_from", "effective from must be a date")
        if self.weekdays_on(effective_from) == days:
            return
        self._weekdays_changed(weekdays=days, effective_from=effective_from, by=by)

    @event("WeekdaysChanged")
    def _weekdays_changed(self, weekdays: list[int], effective_from: date, by: UUID) -> None:
        history = [h for h in self.weekday_history if h[0] != effective_from]
        history.append([effective_from, list(weekdays)])
        history.sort(key=lambda h: h[0])
        self.weekday_history = history

    def weekdays_on(self, day: date) -> list[int]:
        current: list[int] = []
        for effective_from, weekdays in self.weekday_history:
            if effective_from <= day:
                current = list(weekdays)
        return current

    @event("LunchChanged")
    def change_lunch(self, lunch_start: time, lunch_minutes: int, by: UUID) -> None:
        self.lunch_start, self.lunch_minutes = lunch_start, lunch_minutes

    # --- rooms ----------------------------------------------------------------------------------
    def add_room(self, name: str, capacity: int, by: UUID) -> str:
        name = require_text("room", name, max_len=60)
        check_capacity(capacity)
        room_id = room_slug(name)
        if room_id in self.rooms:
            raise InvalidValue("room", f"there is already a room called {self.rooms[room_id]['name']}")
        self._room_added(room_id=room_id, name=name, capacity=capacity, by=by)
        return room_id

    @event("RoomAdded")
    def _room_added(self, room_id: str, name: str, capacity: int, by: UUID) -> None:
        self.rooms[room_id] = {"name": name, "capacity": capacity}

    def change_room_capacity(self, room_id: str, capacity: int, by: UUID) -> None:
        self.check_room(room_id)
        check_capacity(capacity)
        self._room_capacity_changed(room_id=room_id, capacity=capacity, by=by)

    @event("RoomCapacityChanged")
    def _room_capacity_changed(self, room_id: str, capacity: int, by: UUID) -> None:
        self.rooms[room_id]["capacity"] = capacity

    def remove_room(self, room_id: str, by: UUID) -> None:
        self.check_room(room_id)
        self._room_removed(room_id=room_id, by=by)

    @event("RoomRemoved")
    def _room_removed(self, room_id: str, by: UUID) -> None:
        del self.rooms[room_id]

    def check_room(self, room_id: str) -> dict:
        try:
            return self.rooms[room_id]
        except KeyError:
            raise NotFound(f"no room {room_id!r} in the programme") from None

    # --- days off -------------------------------------------------------------------------------
    def add_day_off(self, day: date, reason: str, by: UUID) -> None:
        if not isinstance(day, date):
            raise InvalidValue("day", "day off must be a date")
        reason = require_text("reason", reason or "Day off", max_len=80)
        if day.isoformat() not in self.days_off:
            self._day_off_added(day=day, reason=reason, by=by)

    @event("DayOffAdded")
    def _day_off_added(self, day: date, reason: str, by: UUID) -> None:
        self.days_off[day.isoformat()] = reason

    def remove_day_off(self, day: date, by: UUID) -> None:
        if day.isoformat() in self.days_off:
            self._day_off_removed(day=day, by=by)

    @event("DayOffRemoved")
    def _day_off_removed(self, day: date, by: UUID) -> None:
        del self.days_off[day.isoformat()]

    # --- derived slots --------------------------------------------------------------------------
    def is_lunch_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays_on(day) and day.isoformat() not in self.days_off

    def lunch_times(self, day: date) -> tuple[datetime, datetime]:
        starts = datetime.combine(day, self.lunch_start, tzinfo=ZoneInfo(self.timezone))
        return starts, starts + timedelta(minutes=self.lunch_minutes)

    def check_slot(self, day: date, room_id: str) -> dict:
        room = self.check_room(room_id)
        if day.isoformat() in self.days_off:
            raise SlotUnavailable(f"{day:%a %d %b %Y} is a day off ({self.days_off[day.isoformat()]})")
        if not self.is_lunch_day(day):
            raise SlotUnavailable(f"the programme does not run on {day:%A %d %b %Y}")
        return room


def check_capacity(capacity: object) -> int:
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 500:
        raise InvalidValue("capacity", "capacity must be a whole number from 1 to 500")
    return capacity


def check_programme_timezone(tz: object) -> str:
    return check_timezone(tz)


class SlotUnavailable(DomainError):
    status = 409
