"""Application services: one use-case facade per context, plain values in, ids out.

Every command is a load-decide-save against the event store. Commands on the same aggregate are
serialised inside a process (a per-aggregate lock, so a hot talk does not cause retry storms) and
protected across processes by optimistic concurrency: a conflicting save is retried, a bounded
number of times, with jittered back-off; a conflict that outlasts the bound becomes ``Busy``
(a 503 with a retry hint), never a 500.
"""

from __future__ import annotations

import random
import threading
import time as _time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError
from werkzeug.security import check_password_hash, generate_password_hash

from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, NotFound, require_text
from commonroom.domain.lunchday import LunchDay, lunch_day_id
from commonroom.domain.peer import EmailClaim, EmailTaken, Peer, normalise_email
from commonroom.domain.programme import PROGRAMME_ID, Programme, check_programme_timezone
from commonroom.domain.talk import Talk, validate_proposal
from commonroom.platform.eventstore import EventStore

T = TypeVar("T")
SYSTEM_ACTOR = UUID(int=0)  # scheduled jobs (reminders) act as "the system"
MAX_ATTEMPTS = 12


class Busy(DomainError):
    """Too many concurrent changes to the same thing; safe to retry."""

    status = 503
    retry_after = 1


class Clock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class KeyedLocks:
    """One lock per aggregate id, created on demand (a bounded number are kept)."""

    def __init__(self) -> None:
        self._locks: dict[UUID, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, key: UUID) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                if len(self._locks) > 10_000:
                    self._locks = {k: v for k, v in self._locks.items() if v.locked()}
                lock = self._locks[key] = threading.Lock()
            return lock


@dataclass
class CommandStats:
    commands: int = 0
    conflicts_retried: int = 0
    stale_retried: int = 0  # decided on a cached copy the store had moved past (see change_and_save)


# Set while a command is retried: it then loads from the store, never from a cached copy the
# version board vouches for (a writer that died between its commit and its note would otherwise
# send the command round the same stale copy until it gave up).
_FROM_STORE: ContextVar[bool] = ContextVar("commonroom_from_store", default=False)


class Stale(Exception):
    """A command decided on a cached copy that proved to be behind the store: run it again."""


class Service:
    def __init__(self, store: EventStore, clock: Clock, locks: KeyedLocks, stats: CommandStats) -> None:
        self.store, self.clock, self.locks, self.stats = store, clock, locks, stats

    def run(self, aggregate_ids: Iterable[UUID], command: Callable[[], T]) -> T:
        """Run ``command`` holding the in-process locks of ``aggregate_ids``; retry on conflicts."""
        ids = sorted(set(aggregate_ids))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            token = _FROM_STORE.set(attempt > 1)
            try:
                with ExitStack() as stack:
                    for key in ids:
                        stack.enter_context(self.locks.lock(key))
                    try:
                        result = command()
                        self.stats.commands += 1
                        return result
                    except Stale:
                        self.stats.stale_retried += 1
                        continue  # at once: the store has what the copy lacked
                    except RecordConflictError:
                        self.stats.conflicts_retried += 1
                        if attempt == MAX_ATTEMPTS:
                            break
            finally:
                _FROM_STORE.reset(token)
            _time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 7)))
        raise Busy("many people are changing this at once; please try again in a moment")

    def change_and_save(self, aggregate_id: UUID, kind: type[T], what: str, change: Callable[[T], object]) -> int:
        """Load one aggregate, ``change`` it and save it: the body of most commands (run it inside
        ``run``). The aggregate may be the process's cached copy without a query to the store, when
        the version board says nobody saved it since (``EventStore.current_copy``). Then the save's
        version check is what proves the copy was current; a command that saves nothing (refused
        with a ``DomainError``, or nothing to change) asks the store whether the copy was behind,
        and if so is run again from the store, so no answer rests on a stale copy."""
        aggregate, from_store = None, True
        if not _FROM_STORE.get():
            aggregate = self.store.current_copy(aggregate_id)
            from_store = not isinstance(aggregate, kind)
        if from_store:
            aggregate = self.get(aggregate_id, kind, what)
        version = aggregate.version
        try:
            change(aggregate)
        except DomainError:
            if not from_store and self.store.has_moved_on(aggregate_id, version):
                raise Stale from None
            raise
        if aggregate.version == version and not from_store and self.store.has_moved_on(aggregate_id, version):
            raise Stale
        return self.save(aggregate)

    def get(self, aggregate_id: UUID, kind: type[T], what: str = "thing") -> T:
        try:
            aggregate = self.store.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no such {what}") from None
        if not isinstance(aggregate, kind):
            raise NotFound(f"no such {what}")
        return aggregate

    def save(self, *aggregates) -> int:
        recordings = self.store.save(*aggregates)
        return max((r.notification.id for r in recordings), default=0)


# --- people ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    peer_id: UUID
    position: int


class PeopleService(Service):
    def register(
        self, name: object, email: object, department: object, password: object = None, timezone: object = "UTC",
        *, password_hash: str | None = None,
    ) -> Registered:
        """Register a peer. Bulk imports (the demo, load tests) may pass an already computed
        ``password_hash`` (from ``hash_password``) instead of hashing the same password again."""
        name, department, tz = Peer.validate(name, department, timezone or "UTC")
        email = normalise_email(email)
        password_hash = password_hash or self.hash_password(password)
        claim_id = EmailClaim.create_id(email)

        def command() -> Registered:
            peer_id = uuid4()
            claim = self._claim(email, peer_id, by=peer_id)
            peer = Peer(id=peer_id, name=name, email=email, department=department, timezone=tz,
                        password_hash=password_hash, by=peer_id)
            try:
                position = self.save(peer, claim)
            except RecordConflictError:
                if self._claim_holder(email) is not None:
                    raise EmailTaken("email", f"{email} is already registered") from None
                raise
            return Registered(peer_id, position)

        return self.run([claim_id], command)

    def _claim_holder(self, email: str) -> UUID | None:
        try:
            return self.store.repository.get(EmailClaim.create_id(email)).peer_id
        except AggregateNotFoundError:
            return None

    def _claim(self, email: str, peer_id: UUID, by: UUID) -> EmailClaim:
        try:
            claim = self.store.repository.get(EmailClaim.create_id(email))
        except AggregateNotFoundError:
            return EmailClaim(email=email, peer_id=peer_id, by=by)
        claim.claim_again(peer_id, by=by)
        return claim

    @staticmethod
    def hash_password(password: object) -> str:
        if not isinstance(password, str) or len(password) < 8:
            raise InvalidValue("password", "password must be at least 8 characters")
        if len(password) > 200:
            raise InvalidValue("password", "password must be at most 200 characters")
        return generate_password_hash(password)

    @staticmethod
    def password_matches(password_hash: str, password: str) -> bool:
        return bool(password_hash) and check_password_hash(password_hash, password)

    def change_profile(self, peer_id: UUID, name: object, email: object, department: object,
                       timezone: object, by: UUID) -> int:
        name, department, tz = Peer.validate(name, department, timezone)
        new_email = normalise_email(email)
        self.check_self_or_organizer(peer_id, by)

        def command() -> int:
            peer = self.get(peer_id, Peer, "peer")
            changed = [peer]
            if new_email != peer.email:
                old = self.store.repository.get(EmailClaim.create_id(peer.email))
                old.release(by=by)
                changed += [old, self._claim(new_email, peer_id, by=by)]
            peer.change_profile(name=name, email=new_email, department=department, timezone=tz, by=by)
            try:
                return self.save(*changed)
            except RecordConflictError:
                holder = self._claim_holder(new_email)
                if holder is not None and holder != peer_id:
                    raise EmailTaken("email", f"{new_email} is already registered") from None
                raise

        return self.run([peer_id, EmailClaim.create_id(new_email)], command)

    def change_password(self, peer_id: UUID, password: object, by: UUID) -> int:
        password_hash = self.hash_password(password)
        self.check_self_or_organizer(peer_id, by)
        return self._on_peer(peer_id, lambda p: p.change_password(password_hash=password_hash, by=by))

    def offer_skill(self, peer_id: UUID, skill: object, by: UUID) -> int:
        self.check_self_or_organizer(peer_id, by)
        return self._on_peer(peer_id, lambda p: p.offer_skill(skill, by=by))

    def withdraw_skill(self, peer_id: UUID, skill: str, by: UUID) -> int:
        self.check_self_or_organizer(peer_id, by)
        return self._on_peer(peer_id, lambda p: p.withdraw_skill(skill, by=by))

    def want_skill(self, peer_id: UUID, skill: object, by: UUID) -> int:
        self.check_self_or_organizer(peer_id, by)
        return self._on_peer(peer_id, lambda p: p.want_skill(skill, by=by))

    def drop_wanted_skill(self, peer_id: UUID, skill: str, by: UUID) -> int:
        self.check_self_or_organizer(peer_id, by)
        return self._on_peer(peer_id, lambda p: p.drop_wanted_skill(skill, by=by))

    def grant_organizer(self, peer_id: UUID, by: UUID) -> int:
        """Make a peer an organizer: by an organizer, or by the operator (``SYSTEM_ACTOR``: the
        ``peers grant-organizer`` command, which is how the first organizer comes to be)."""
        self._check_organizer_or_system(by, "only an organizer can make someone an organizer")
        return self._on_peer(peer_id, lambda p: p.grant_organizer(by=by))

    def revoke_organizer(self, peer_id: UUID, by: UUID) -> int:
        self._check_organizer_or_system(by, "only an organizer can take the organizer role away")
        return self._on_peer(peer_id, lambda p: p.revoke_organizer(by=by))

    def _check_organizer_or_system(self, by: UUID, message: str) -> None:
        if by != SYSTEM_ACTOR and not self.is_organizer(by):
            raise NotAllowed(message)

    def deactivate(self, peer_id: UUID, by: UUID) -> int:
        self.check_self_or_organizer(peer_id, by)
        return self._on_peer(peer_id, lambda p: p.deactivate(by=by))

    def _on_peer(self, peer_id: UUID, change: Callable[[Peer], None]) -> int:
        def command() -> int:
            peer = self.get(peer_id, Peer, "peer")
            change(peer)
            return self.save(peer)

        return self.run([peer_id], command)

    def peer_id_for_email(self, email: str) -> UUID | None:
        try:
            return self._claim_holder(normalise_email(email))
        except InvalidValue:
            return None

    def is_organizer(self, peer_id: UUID) -> bool:
        try:
            peer = self.get(peer_id, Peer, "peer")
        except NotFound:
            return False
        return peer.is_organizer and peer.active  # a deactivated account keeps no powers

    def check_self_or_organizer(self, peer_id: UUID, by: UUID) -> None:
        if peer_id != by and not self.is_organizer(by):
            raise NotAllowed("you can only change your own profile")


# --- the programme --------------------------------------------------------------------------------


class ProgrammeService(Service):
    def programme(self) -> Programme | None:
        try:
            return self.store.repository.get(PROGRAMME_ID)
        except AggregateNotFoundError:
            return None

    def start(self, name: object, timezone: object, lunch_start, lunch_minutes, by: UUID) -> int:
        name = require_text("name", name, max_len=80)
        tz = check_programme_timezone(timezone)
        start, minutes = Programme.validate_lunch(lunch_start, lunch_minutes)

        def command() -> int:
            if self.programme() is not None:
                raise DomainError("the programme has already been started")
            return self.save(Programme(name=name, timezone=tz, lunch_start=start, lunch_minutes=minutes, by=by))

        return self.run([PROGRAMME_ID], command)

    def change(self, change: Callable[[Programme], object], by: UUID) -> int:
        """Apply ``change`` to the programme (organizers only)."""
        self.check_organizer(by)

        def command() -> int:
            programme = self.programme()
            if programme is None:
                raise NotFound("the programme has not been started yet")
            change(programme)
            return self.save(programme)

        return self.run([PROGRAMME_ID], command)

    def check_organizer(self, by: UUID) -> None:
        people = PeopleService(self.store, self.clock, self.locks, self.stats)
        if not people.is_organizer(by):
            raise NotAllowed("only organizers can change the programme")


# --- talks ----------------------------------------------------------------------------------------


class TalkService(Service):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.people = PeopleService(self.store, self.clock, self.locks, self.stats)
        self.programmes = ProgrammeService(self.store, self.clock, self.locks, self.stats)

    def propose(self, speaker_id: UUID, title: object, abstract: object, topics: object) -> tuple[UUID, int]:
        title, abstract, topics = validate_proposal(title, abstract, topics)
        speaker = self.get(speaker_id, Peer, "peer")
        speaker.check_active()
        talk = Talk(speaker_id=speaker_id, title=title, abstract=abstract, topics=topics, by=speaker_id)
        return talk.id, self.run([talk.id], lambda: self.save(talk))

    def revise(self, talk_id: UUID, title: object, abstract: object, topics: object, by: UUID) -> int:
        title, abstract, topics = validate_proposal(title, abstract, topics)
        return self._on_talk(talk_id, lambda t: t.revise(title=title, abstract=abstract, topics=topics, by=by))

    def withdraw(self, talk_id: UUID, by: UUID) -> int:
        return self._on_talk(talk_id, lambda t: t.withdraw(by=by))

    def schedule(self, talk_id: UUID, day: object, room_id: object, by: UUID) -> int:
        """Schedule a proposal into a free lunch slot, or move a scheduled talk to another one."""
        if not isinstance(day, date):
            raise InvalidValue("day", "day must be a date like 2026-12-01")
        if not isinstance(room_id, str) or not room_id:
            raise InvalidValue("room", "choose a room")
        new_day_id = lunch_day_id(day)
        organizer = self.people.is_organizer(by)

        def command() -> int:
            programme = self.programmes.programme()
            if programme is None:
                raise NotFound("the programme has not been started yet")
            talk = self.get(talk_id, Talk, "talk")
            talk.check_speaker(by, organizer)
            room = programme.check_slot(day, room_id)
            starts_at, ends_at = programme.lunch_times(day)
            changed: list = [talk]
            old_day = None
            if talk.day is not None and talk.day != day:
                old_day = self._lunch_day(talk.day, by)
                old_day.release(talk.id, by=by)
                changed.append(old_day)
            new_day = self._lunch_day(day, by)
            new_day.book(talk.id, room_id, talk.speaker_id, by=by)
            changed.append(new_day)
            args = dict(day=day, room_id=room_id, starts_at=starts_at, ends_at=ends_at,
                        capacity=room["capacity"], now=self.clock.now(), by=by, by_organizer=organizer)
            if talk.status == "scheduled":
                talk.reschedule(**args)
            else:
                talk.schedule(**args)
            return self.save(*changed)

        ids = [talk_id, new_day_id]
        return self.run(ids, command)

    def _lunch_day(self, day: date, by: UUID) -> LunchDay:
        try:
            return self.store.repository.get(lunch_day_id(day))
        except AggregateNotFoundError:
            return LunchDay(day=day, by=by)

    def cancel(self, talk_id: UUID, reason: object, by: UUID) -> int:
        organizer = self.people.is_organizer(by)

        def command() -> int:
            talk = self.get(talk_id, Talk, "talk")
            talk.cancel(reason if isinstance(reason, str) else "", now=self.clock.now(), by=by, by_organizer=organizer)
            changed: list = [talk]
            if talk.day is not None:
                lunch_day = self._lunch_day(talk.day, by)
                lunch_day.release(talk.id, by=by)
                changed.append(lunch_day)
            return self.save(*changed)

        return self.run([talk_id], command)

    def sign_up(self, talk_id: UUID, peer_id: UUID) -> int:
        return self._on_talk(talk_id, lambda t: t.sign_up(peer_id, now=self.clock.now(), by=peer_id))

    def cancel_sign_up(self, talk_id: UUID, peer_id: UUID, by: UUID | None = None) -> int:
        return self._on_talk(talk_id, lambda t: t.cancel_sign_up(peer_id, now=self.clock.now(), by=by or peer_id))

    def record_attendance(self, talk_id: UUID, attended: dict[UUID, bool], by: UUID) -> int:
        organizer = self.people.is_organizer(by)

        def change(talk: Talk) -> None:
            for peer_id, was_there in attended.items():
                talk.record_attendance(peer_id, was_there, now=self.clock.now(), by=by, by_organizer=organizer)

        return self._on_talk(talk_id, change)

    def give_feedback(self, talk_id: UUID, peer_id: UUID, rating: object, comment: object) -> int:
        return self._on_talk(
            talk_id, lambda t: t.give_feedback(peer_id, rating, comment if isinstance(comment, str) else "", by=peer_id)
        )

    def send_reminder(self, talk_id: UUID) -> int:
        return self._on_talk(talk_id, lambda t: t.send_reminder(by=SYSTEM_ACTOR))

    def _on_talk(self, talk_id: UUID, change: Callable[[Talk], None]) -> int:
        return self.run([talk_id], lambda: self.change_and_save(talk_id, Talk, "talk", change))
