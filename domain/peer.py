"""Peers (people in the organisation) and the email claims that keep emails unique."""

from __future__ import annotations

import re
from uuid import UUID, NAMESPACE_URL, uuid5
from zoneinfo import available_timezones

from eventsourcing.domain import Aggregate, event

from commonroom.domain.copying import FastCopy
from commonroom.domain.errors import DomainError, InvalidValue, require_text

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TIMEZONES = frozenset(available_timezones()) | {"UTC"}


def normalise_email(email: object) -> str:
    text = require_text("email", email, max_len=254).lower()
    if not EMAIL_RE.match(text):
        raise InvalidValue("email", "email must look like name@example.org")
    return text


def check_timezone(tz: object) -> str:
    text = require_text("timezone", tz, max_len=64)
    if text not in _TIMEZONES:
        raise InvalidValue("timezone", f"unknown timezone {text!r} (try Europe/London)")
    return text


class Peer(FastCopy, Aggregate):
    """A person who can speak, attend, teach and learn."""

    class Registered(Aggregate.Created):
        """v2 added ``timezone``; v1 events (from before it existed) read as UTC."""

        class_version = 2
        name: str
        email: str
        department: str
        timezone: str
        password_hash: str
        by: UUID

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["timezone"] = "UTC"

    @event(Registered)
    def __init__(
        self, id: UUID, name: str, email: str, department: str, timezone: str, password_hash: str, by: UUID
    ) -> None:  # ``id`` is chosen by the caller so the registration can name itself as the actor
        self.name, self.email, self.department = name, email, department
        self.timezone, self.password_hash = timezone, password_hash
        self.offers: list[str] = []
        self.wants: list[str] = []
        self.is_organizer = False
        self.active = True

    @staticmethod
    def validate(name: object, department: object, timezone: object) -> tuple[str, str, str]:
        return (
            require_text("name", name, max_len=80),
            require_text("department", department, max_len=80),
            check_timezone(timezone),
        )

    def change_profile(self, name: str, email: str, department: str, timezone: str, by: UUID) -> None:
        self.check_active()
        self._profile_changed(name=name, email=email, department=department, timezone=timezone, by=by)

    @event("ProfileChanged")
    def _profile_changed(self, name: str, email: str, department: str, timezone: str, by: UUID) -> None:
        self.name, self.email, self.department, self.timezone = name, email, department, timezone

    @event("PasswordChanged")
    def change_password(self, password_hash: str, by: UUID) -> None:
        self.password_hash = password_hash

    def offer_skill(self, skill: str, by: UUID) -> None:
        skill = require_text("skill", skill, max_len=60)
        if skill.lower() not in (s.lower() for s in self.offers):
            self._skill_offered(skill=skill, by=by)

    @event("SkillOffered")
    def _skill_offered(self, skill: str, by: UUID) -> None:
        self.offers.append(skill)

    def withdraw_skill(self, skill: str, by: UUID) -> None:
        if skill in self.offers:
            self._skill_withdrawn(skill=skill, by=by)

    @event("SkillWithdrawn")
    def _skill_withdrawn(self, skill: str, by: UUID) -> None:
        self.offers.remove(skill)

    def want_skill(self, skill: str, by: UUID) -> None:
        skill = require_text("skill", skill, max_len=60)
        if skill.lower() not in (s.lower() for s in self.wants):
            self._skill_wanted(skill=skill, by=by)

    @event("SkillWanted")
    def _skill_wanted(self, skill: str, by: UUID) -> None:
        self.wants.append(skill)

    def drop_wanted_skill(self, skill: str, by: UUID) -> None:
        if skill in self.wants:
            self._wanted_skill_dropped(skill=skill, by=by)

    @event("WantedSkillDropped")
    def _wanted_skill_dropped(self, skill: str, by: UUID) -> None:
        self.wants.remove(skill)

    def grant_organizer(self, by: UUID) -> None:
        if not self.is_organizer:
            self._organizer_granted(by=by)

    @event("OrganizerGranted")
    def _organizer_granted(self, by: UUID) -> None:
        self.is_organizer = True

    def revoke_organizer(self, by: UUID) -> None:
        if self.is_organizer:
            self._organizer_revoked(by=by)

    @event("OrganizerRevoked")
    def _organizer_revoked(self, by: UUID) -> None:
        self.is_organizer = False

    def deactivate(self, by: UUID) -> None:
        self.check_active()
        self._deactivated(by=by)

    @event("Deactivated")
    def _deactivated(self, by: UUID) -> None:
        self.active = False

    def check_active(self) -> None:
        if not self.active:
            raise PeerInactive("this account has been deactivated")


class EmailClaim(FastCopy, Aggregate):
    """One per normalised email: its deterministic id makes a second claim conflict in the store."""

    @staticmethod
    def create_id(email: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"commonroom:email:{email}")

    @event("Claimed")
    def __init__(self, email: str, peer_id: UUID, by: UUID) -> None:
        self.email, self.peer_id = email, peer_id

    def claim_again(self, peer_id: UUID, by: UUID) -> None:
        if self.peer_id is not None:
            raise EmailTaken("email", f"{self.email} is already registered")
        self._reclaimed(peer_id=peer_id, by=by)

    @event("Reclaimed")
    def _reclaimed(self, peer_id: UUID, by: UUID) -> None:
        self.peer_id = peer_id

    @event("Released")
    def release(self, by: UUID) -> None:
        self.peer_id = None


class EmailTaken(InvalidValue):
    status = 409


class PeerInactive(DomainError):
    pass
