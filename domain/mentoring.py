"""A mentoring programme (mentors and mentee applications) and the mentorships it pairs up.

The programme holds who mentors (skills, background, languages, time zone, capacity) and who has
applied (goals, needs). An organizer confirms a pairing, which starts a ``Mentorship``: its own
stream where the pair logs contacts and which ends with an outcome.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from commonroom.domain.copying import FastCopy
from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, require_text
from commonroom.domain.peer import check_timezone

CONTACT_KINDS = ("call", "email", "document review")
OUTCOMES = ("goals met", "partly met", "stopped early")
MAX_CAPACITY = 10


def clean_list(field: str, values: object, *, max_items: int = 10) -> list[str]:
    if values is None:
        values = []
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, (list, tuple)):
        raise InvalidValue(field, f"{field} must be a comma-separated list")
    cleaned: list[str] = []
    for value in values:
        text = require_text(field, value, min_len=0, max_len=60)
        if text and text.lower() not in (c.lower() for c in cleaned):
            cleaned.append(text)
    if len(cleaned) > max_items:
        raise InvalidValue(field, f"at most {max_items} {field}")
    return cleaned


def validate_mentor(skills: object, background: object, languages: object, timezone: object,
                    capacity: object) -> dict:
    skills = clean_list("skills", skills)
    if not skills:
        raise InvalidValue("skills", "name at least one skill you can mentor in")
    languages = clean_list("languages", languages) or ["English"]
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidValue("capacity", f"capacity must be a whole number from 1 to {MAX_CAPACITY}")
    return dict(skills=skills, background=require_text("background", background or "", min_len=0, max_len=80),
                languages=languages, timezone=check_timezone(timezone), capacity=capacity)


def validate_application(goals: object, needs: object, background: object, languages: object,
                         timezone: object) -> dict:
    needs = clean_list("needs", needs)
    if not needs:
        raise InvalidValue("needs", "name at least one skill you would like help with")
    return dict(goals=require_text("goals", goals, min_len=3, max_len=2000), needs=needs,
                background=require_text("background", background or "", min_len=0, max_len=80),
                languages=clean_list("languages", languages) or ["English"],
                timezone=check_timezone(timezone))


class MentoringProgramme(FastCopy, Aggregate):
    @event("Started")
    def __init__(self, name: str, description: str, by: UUID) -> None:
        self.name, self.description = name, description
        self.mentors: dict[str, dict] = {}  # str(peer id) -> profile
        self.applications: dict[str, dict] = {}  # str(peer id) -> application
        self.load: dict[str, int] = {}  # str(mentor id) -> mentees currently paired
        self.paired: list[str] = []  # mentee ids with a running mentorship

    @staticmethod
    def start(name: object, description: object, by: UUID) -> "MentoringProgramme":
        return MentoringProgramme(name=require_text("name", name, min_len=3, max_len=80),
                                  description=require_text("description", description or "", min_len=0,
                                                           max_len=2000), by=by)

    def join_as_mentor(self, peer_id: UUID, profile: dict, by: UUID) -> None:
        if str(peer_id) in self.applications:
            raise InvalidValue("skills", "you have applied as a mentee in this programme")
        self._mentor_joined(peer_id=peer_id, by=by, **profile)

    @event("MentorJoined")
    def _mentor_joined(self, peer_id: UUID, skills: list[str], background: str, languages: list[str],
                       timezone: str, capacity: int, by: UUID) -> None:
        self.mentors[str(peer_id)] = dict(skills=skills, background=background, languages=languages,
                                          timezone=timezone, capacity=capacity)

    def apply(self, peer_id: UUID, application: dict, by: UUID) -> None:
        if str(peer_id) in self.mentors:
            raise InvalidValue("goals", "you mentor in this programme")
        if str(peer_id) in self.paired:
            raise AlreadyPaired("you already have a mentor in this programme")
        self._applied(peer_id=peer_id, by=by, **application)

    @event("Applied")
    def _applied(self, peer_id: UUID, goals: str, needs: list[str], background: str, languages: list[str],
                 timezone: str, by: UUID) -> None:
        self.applications[str(peer_id)] = dict(goals=goals, needs=needs, background=background,
                                               languages=languages, timezone=timezone)

    def pair(self, mentor_id: UUID, mentee_id: UUID, mentorship_id: UUID, by: UUID) -> None:
        """An organizer confirms a proposed pairing (the service checks the organizer role)."""
        mentor = self.mentors.get(str(mentor_id))
        if mentor is None:
            raise InvalidValue("mentor", "that person is not a mentor in this programme")
        if str(mentee_id) not in self.applications:
            raise InvalidValue("mentee", "that person has not applied to this programme")
        if str(mentee_id) in self.paired:
            raise AlreadyPaired("that mentee already has a mentor")
        if self.load.get(str(mentor_id), 0) >= mentor["capacity"]:
            raise InvalidValue("mentor", "that mentor has no capacity left")
        self._paired(mentor_id=mentor_id, mentee_id=mentee_id, mentorship_id=mentorship_id, by=by)

    @event("Paired")
    def _paired(self, mentor_id: UUID, mentee_id: UUID, mentorship_id: UUID, by: UUID) -> None:
        self.load[str(mentor_id)] = self.load.get(str(mentor_id), 0) + 1
        self.paired.append(str(mentee_id))

    def release(self, mentor_id: UUID, mentee_id: UUID, by: UUID) -> None:
        if str(mentee_id) in self.paired:
            self._released(mentor_id=mentor_id, mentee_id=mentee_id, by=by)

    @event("Released")
    def _released(self, mentor_id: UUID, mentee_id: UUID, by: UUID) -> None:
        self.load[str(mentor_id)] = max(self.load.get(str(mentor_id), 0) - 1, 0)
        self.paired.remove(str(mentee_id))
        self.applications.pop(str(mentee_id), None)


class Mentorship(FastCopy, Aggregate):
    @event("Started")
    def __init__(self, id: UUID, programme_id: UUID, mentor_id: UUID,  # noqa: A002
                 mentee_id: UUID, started_on: date, topics: list[str], by: UUID) -> None:
        self.programme_id, self.mentor_id, self.mentee_id = programme_id, mentor_id, mentee_id
        self.topics = topics  # the mentee's needs the mentor covers
        self.started_on = started_on
        self.contacts = 0
        self.outcome = ""
        self.active = True

    def log_contact(self, on: object, minutes: object, kind: object, note: object, by: UUID) -> None:
        self.check_pair(by)
        self.check_active()
        if not isinstance(on, date):
            raise InvalidValue("on", "date must be a date like 2026-12-01")
        if on < self.started_on:
            raise InvalidValue("on", "a contact cannot be before the mentorship started")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= 600:
            raise InvalidValue("minutes", "minutes must be a whole number from 0 to 600")
        if kind not in CONTACT_KINDS:
            raise InvalidValue("kind", "kind must be one of: " + ", ".join(CONTACT_KINDS))
        note = require_text("note", note or "", min_len=0, max_len=1000)
        self._contact_logged(on=on, minutes=minutes, kind=kind, note=note, mentor_id=self.mentor_id,
                             mentee_id=self.mentee_id, topics=list(self.topics), by=by)

    @event("ContactLogged")
    def _contact_logged(self, on: date, minutes: int, kind: str, note: str, mentor_id: UUID, mentee_id: UUID,
                        topics: list[str], by: UUID) -> None:
        self.contacts += 1

    def end(self, outcome: object, summary: object, by: UUID, by_organizer: bool = False) -> None:
        if not by_organizer:
            self.check_pair(by)
        self.check_active()
        if outcome not in OUTCOMES:
            raise InvalidValue("outcome", "outcome must be one of: " + ", ".join(OUTCOMES))
        summary = require_text("summary", summary or "", min_len=0, max_len=1000)
        self._ended(outcome=outcome, summary=summary, by=by)

    @event("Ended")
    def _ended(self, outcome: str, summary: str, by: UUID) -> None:
        self.active = False
        self.outcome = outcome

    def check_pair(self, by: UUID) -> None:
        if by not in (self.mentor_id, self.mentee_id):
            raise NotAllowed("only the mentor and mentee can do that")

    def check_active(self) -> None:
        if not self.active:
            raise MentorshipEnded("this mentorship has ended")


class AlreadyPaired(DomainError):
    pass


class MentorshipEnded(DomainError):
    pass
