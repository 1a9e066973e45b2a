"""One lunch day's bookings: which talk holds which room, and which speakers speak that day.

A deterministic id per date makes "room free" and "speaker not already speaking then" hold under
concurrency: two schedulings of the same day conflict in the event store and one is retried.
"""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from commonroom.domain.copying import FastCopy
from commonroom.domain.errors import DomainError


def lunch_day_id(day: date) -> UUID:
    return uuid5(NAMESPACE_URL, f"commonroom:lunchday:{day.isoformat()}")


class LunchDay(FastCopy, Aggregate):
    @staticmethod
    def create_id(day: date) -> UUID:
        return lunch_day_id(day)

    @event("Opened")
    def __init__(self, day: date, by: UUID) -> None:
        self.day = day
        self.rooms: dict[str, UUID] = {}  # room_id -> talk id
        self.speakers: dict[str, UUID] = {}  # str(speaker id) -> talk id

    def book(self, talk_id: UUID, room_id: str, speaker_id: UUID, by: UUID) -> None:
        holder = self.rooms.get(room_id)
        if holder is not None and holder != talk_id:
            raise SlotTaken(f"that room is already taken on {self.day:%a %d %b}")
        other = self.speakers.get(str(speaker_id))
        if other is not None and other != talk_id:
            raise SpeakerBusy(f"the speaker already gives a talk on {self.day:%a %d %b}")
        self._booked(talk_id=talk_id, room_id=room_id, speaker_id=speaker_id, by=by)

    @event("Booked")
    def _booked(self, talk_id: UUID, room_id: str, speaker_id: UUID, by: UUID) -> None:
        self._drop(talk_id)
        self.rooms[room_id] = talk_id
        self.speakers[str(speaker_id)] = talk_id

    def release(self, talk_id: UUID, by: UUID) -> None:
        if talk_id in self.rooms.values():
            self._released(talk_id=talk_id, by=by)

    @event("Released")
    def _released(self, talk_id: UUID, by: UUID) -> None:
        self._drop(talk_id)

    def _drop(self, talk_id: UUID) -> None:
        self.rooms = {r: t for r, t in self.rooms.items() if t != talk_id}
        self.speakers = {s: t for s, t in self.speakers.items() if t != talk_id}


class SlotTaken(DomainError):
    pass


class SpeakerBusy(DomainError):
    pass
