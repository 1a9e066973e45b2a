"""A lunchtime talk: proposed, scheduled into a lunch slot, signed up for, attended, rated."""

from __future__ import annotations

from datetime import date, datetime
from operator import attrgetter
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from commonroom.domain.copying import FastCopy
from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, require_text

PROPOSED, SCHEDULED, WITHDRAWN, CANCELLED = "proposed", "scheduled", "withdrawn", "cancelled"
MAX_TOPICS = 8

# A talk's sign-ups are lists of UUIDs (in order: the waitlist is a queue). ``peer_id in ids`` and
# ``ids.remove(peer_id)`` call ``UUID.__eq__``, a Python method, once per id: every sign-up walked
# the talk's lists that way (60-odd calls, ~30 us). Compared by their 128-bit ints instead, in C.
_INT = attrgetter("int")


def holds(ids: list[UUID], peer_id: UUID) -> bool:
    """``peer_id in ids``."""
    return peer_id.int in map(_INT, ids)


def place(ids: list[UUID], peer_id: UUID) -> int:
    """``ids.index(peer_id)`` (ValueError when it is not there)."""
    return list(map(_INT, ids)).index(peer_id.int)


def clean_topics(topics: object) -> list[str]:
    if isinstance(topics, str):
        topics = topics.split(",")
    if not isinstance(topics, (list, tuple)):
        raise InvalidValue("topics", "topics must be a list of words")
    cleaned: list[str] = []
    for topic in topics:
        text = require_text("topics", topic, min_len=0, max_len=40)
        if text and text.lower() not in (t.lower() for t in cleaned):
            cleaned.append(text)
    if not cleaned:
        raise InvalidValue("topics", "name at least one topic")
    if len(cleaned) > MAX_TOPICS:
        raise InvalidValue("topics", f"at most {MAX_TOPICS} topics")
    return cleaned


def validate_proposal(title: object, abstract: object, topics: object) -> tuple[str, str, list[str]]:
    return (
        require_text("title", title, min_len=3, max_len=120),
        require_text("abstract", abstract, min_len=0, max_len=4000),
        clean_topics(topics),
    )


class Talk(FastCopy, Aggregate):
    @event("Proposed")
    def __init__(self, speaker_id: UUID, title: str, abstract: str, topics: list[str], by: UUID) -> None:
        self.speaker_id, self.title, self.abstract, self.topics = speaker_id, title, abstract, topics
        self.status = PROPOSED
        self.day: date | None = None
        self.room_id: str | None = None
        self.starts_at: datetime | None = None
        self.ends_at: datetime | None = None
        self.capacity = 0
        self.sequence = 0  # grows each time the talk moves (iCalendar SEQUENCE)
        self.confirmed: list[UUID] = []
        self.waitlist: list[UUID] = []
        self.attendance: dict[str, bool] = {}  # str(peer id) -> attended?
        self.ratings: dict[str, int] = {}
        self.reminded = False

    # --- the speaker's own changes -------------------------------------------------------------
    def revise(self, title: str, abstract: str, topics: list[str], by: UUID) -> None:
        self.check_speaker(by)
        self.check_open()
        self._revised(title=title, abstract=abstract, topics=topics, by=by)

    @event("Revised")
    def _revised(self, title: str, abstract: str, topics: list[str], by: UUID) -> None:
        self.title, self.abstract, self.topics = title, abstract, topics

    def withdraw(self, by: UUID) -> None:
        self.check_speaker(by)
        if self.status != PROPOSED:
            raise TalkNotOpen("only a proposal that is not scheduled can be withdrawn; cancel a scheduled talk")
        self._withdrawn(by=by)

    @event("Withdrawn")
    def _withdrawn(self, by: UUID) -> None:
        self.status = WITHDRAWN

    def schedule(
        self, day: date, room_id: str, starts_at: datetime, ends_at: datetime, capacity: int,
        now: datetime, by: UUID, by_organizer: bool = False,
    ) -> None:
        self.check_speaker(by, by_organizer)
        if self.status != PROPOSED:
            raise TalkNotOpen(f"this talk is {self.status}; reschedule it instead")
        check_future(starts_at, now)
        self._scheduled(day=day, room_id=room_id, starts_at=starts_at, ends_at=ends_at, capacity=capacity, by=by)

    @event("Scheduled")
    def _scheduled(self, day: date, room_id: str, starts_at: datetime, ends_at: datetime, capacity: int, by: UUID) -> None:
        self.status = SCHEDULED
        self.day, self.room_id, self.starts_at, self.ends_at, self.capacity = day, room_id, starts_at, ends_at, capacity

    def reschedule(
        self, day: date, room_id: str, starts_at: datetime, ends_at: datetime, capacity: int,
        now: datetime, by: UUID, by_organizer: bool = False,
    ) -> None:
        self.check_speaker(by, by_organizer)
        if self.status != SCHEDULED:
            raise TalkNotOpen("only a scheduled talk can be rescheduled")
        self.check_not_started(now)
        check_future(starts_at, now)
        if capacity < len(self.confirmed):
            raise InvalidValue("room", f"that room seats {capacity} but {len(self.confirmed)} are signed up")
        self._rescheduled(day=day, room_id=room_id, starts_at=starts_at, ends_at=ends_at, capacity=capacity, by=by)
        self._promote_while_seats(by)

    @event("Rescheduled")
    def _rescheduled(self, day: date, room_id: str, starts_at: datetime, ends_at: datetime, capacity: int, by: UUID) -> None:
        if day != self.day:
            self.reminded = False  # the reminder went out for the old date
        self.day, self.room_id, self.starts_at, self.ends_at, self.capacity = day, room_id, starts_at, ends_at, capacity
        self.sequence += 1

    def cancel(self, reason: str, now: datetime, by: UUID, by_organizer: bool = False) -> None:
        self.check_speaker(by, by_organizer)
        if self.status != SCHEDULED:
            raise TalkNotOpen("only a scheduled talk can be cancelled; withdraw a proposal")
        self.check_not_started(now)
        reason = require_text("reason", reason, min_len=0, max_len=300)
        self._cancelled(reason=reason, by=by)

    @event("Cancelled")
    def _cancelled(self, reason: str, by: UUID) -> None:
        self.status = CANCELLED
        self.sequence += 1

    # --- sign-ups -------------------------------------------------------------------------------
    def sign_up(self, peer_id: UUID, now: datetime, by: UUID) -> None:
        if self.status != SCHEDULED:
            raise TalkNotOpen(f"this talk is {self.status}, not open for sign-ups")
        self.check_not_started(now)
        if peer_id == self.speaker_id:
            raise AlreadySignedUp("speakers cannot sign up to their own talk")
        if holds(self.confirmed, peer_id) or holds(self.waitlist, peer_id):
            raise AlreadySignedUp("you are already signed up for this talk")
        if len(self.confirmed) < self.capacity:
            self._signed_up(peer_id=peer_id, by=by)
        else:
            self._waitlisted(peer_id=peer_id, position=len(self.waitlist) + 1, by=by)

    @event("SignedUp")
    def _signed_up(self, peer_id: UUID, by: UUID) -> None:
        self.confirmed.append(peer_id)

    @event("Waitlisted")
    def _waitlisted(self, peer_id: UUID, position: int, by: UUID) -> None:
        self.waitlist.append(peer_id)

    def cancel_sign_up(self, peer_id: UUID, now: datetime, by: UUID) -> None:
        waitlisted = holds(self.waitlist, peer_id)
        if not waitlisted and not holds(self.confirmed, peer_id):
            raise NotSignedUp("you are not signed up for this talk")
        self.check_not_started(now)
        self._sign_up_cancelled(peer_id=peer_id, was_waitlisted=waitlisted, by=by)
        self._promote_while_seats(by)

    @event("SignUpCancelled")
    def _sign_up_cancelled(self, peer_id: UUID, was_waitlisted: bool, by: UUID) -> None:
        ids = self.waitlist if was_waitlisted else self.confirmed
        del ids[place(ids, peer_id)]

    def _promote_while_seats(self, by: UUID) -> None:
        while self.status == SCHEDULED and self.waitlist and len(self.confirmed) < self.capacity:
            self._promoted(peer_id=self.waitlist[0], by=by)

    @event("Promoted")
    def _promoted(self, peer_id: UUID, by: UUID) -> None:
        del self.waitlist[place(self.waitlist, peer_id)]
        self.confirmed.append(peer_id)

    def waitlist_position(self, peer_id: UUID) -> int | None:
        return place(self.waitlist, peer_id) + 1 if holds(self.waitlist, peer_id) else None

    # --- after the talk -------------------------------------------------------------------------
    def record_attendance(self, peer_id: UUID, attended: bool, now: datetime, by: UUID, by_organizer: bool = False) -> None:
        self.check_speaker(by, by_organizer)
        if self.status != SCHEDULED or self.starts_at is None:
            raise TalkNotOpen("attendance is recorded only for a scheduled talk")
        if now < self.starts_at:
            raise TooEarly("attendance can be recorded once the talk has started")
        if not holds(self.confirmed, peer_id):
            raise NotSignedUp("only confirmed sign-ups can be marked as attended or no-show")
        if self.attendance.get(str(peer_id)) is not bool(attended):
            self._attendance_recorded(peer_id=peer_id, attended=bool(attended), by=by)

    @event("AttendanceRecorded")
    def _attendance_recorded(self, peer_id: UUID, attended: bool, by: UUID) -> None:
        self.attendance[str(peer_id)] = attended

    def give_feedback(self, peer_id: UUID, rating: object, comment: str, by: UUID) -> None:
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise InvalidValue("rating", "rating must be a whole number from 1 to 5")
        comment = require_text("comment", comment or "", min_len=0, max_len=2000)
        if self.attendance.get(str(peer_id)) is not True:
            raise NotAllowed("only people who attended can give feedback")
        if str(peer_id) in self.ratings:
            raise FeedbackAlreadyGiven("you already gave feedback on this talk")
        self._feedback_given(peer_id=peer_id, rating=rating, comment=comment, by=by)

    @event("FeedbackGiven")
    def _feedback_given(self, peer_id: UUID, rating: int, comment: str, by: UUID) -> None:
        self.ratings[str(peer_id)] = rating

    def send_reminder(self, by: UUID) -> None:
        if self.status == SCHEDULED and not self.reminded:
            self._reminded(by=by)

    @event("Reminded")
    def _reminded(self, by: UUID) -> None:
        self.reminded = True

    # --- guards ---------------------------------------------------------------------------------
    def check_speaker(self, by: UUID, by_organizer: bool = False) -> None:
        if by != self.speaker_id and not by_organizer:
            raise NotAllowed("only the speaker (or an organizer) can do that")

    def check_open(self) -> None:
        if self.status in (WITHDRAWN, CANCELLED):
            raise TalkNotOpen(f"this talk is {self.status}")

    def check_not_started(self, now: datetime) -> None:
        if self.starts_at is not None and now >= self.starts_at:
            raise TooLate("this talk has already started")


def check_future(starts_at: datetime, now: datetime) -> None:
    if starts_at <= now:
        raise InvalidValue("day", "choose a lunch slot in the future")


class TalkNotOpen(DomainError):
    pass


class AlreadySignedUp(DomainError):
    pass


class NotSignedUp(DomainError):
    pass


class TooLate(DomainError):
    pass


class TooEarly(DomainError):
    pass


class FeedbackAlreadyGiven(DomainError):
    pass
