"""Random sign-ups, cancellations and reschedules keep a talk's seats consistent (Hypothesis)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from commonroom.domain.errors import DomainError
from commonroom.domain.talk import AlreadySignedUp, NotSignedUp, Talk

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
STARTS = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
PEOPLE = [uuid4() for _ in range(12)]


class TalkSeats(RuleBasedStateMachine):
    """Compares the aggregate with a plain model: a confirmed list and a FIFO waitlist."""

    def __init__(self) -> None:
        super().__init__()
        self.speaker = uuid4()
        self.talk = Talk(speaker_id=self.speaker, title="Seats", abstract="", topics=["x"], by=self.speaker)
        self.capacity = 3
        self.talk.schedule(date(2026, 3, 4), "room", STARTS, STARTS + timedelta(minutes=30), self.capacity,
                           now=NOW, by=self.speaker)
        self.talk.collect_events()
        self.confirmed: list[UUID] = []
        self.waitlist: list[UUID] = []

    def _promote(self) -> list[UUID]:
        promoted = []
        while self.waitlist and len(self.confirmed) < self.capacity:
            promoted.append(self.waitlist.pop(0))
            self.confirmed.append(promoted[-1])
        return promoted

    def _promoted_in(self, events) -> list[UUID]:
        return [e.peer_id for e in events if isinstance(e, Talk.Promoted)]

    @rule(peer=st.sampled_from(PEOPLE))
    def sign_up(self, peer: UUID) -> None:
        if peer in self.confirmed or peer in self.waitlist:
            try:
                self.talk.sign_up(peer, now=NOW, by=peer)
            except AlreadySignedUp:
                return
            raise AssertionError("a second sign-up was accepted")
        self.talk.sign_up(peer, now=NOW, by=peer)
        [event] = self.talk.collect_events()
        if len(self.confirmed) < self.capacity:
            assert isinstance(event, Talk.SignedUp)
            self.confirmed.append(peer)
        else:
            assert isinstance(event, Talk.Waitlisted)
            self.waitlist.append(peer)
            assert event.position == len(self.waitlist)

    @rule(peer=st.sampled_from(PEOPLE))
    def cancel_sign_up(self, peer: UUID) -> None:
        if peer not in self.confirmed and peer not in self.waitlist:
            try:
                self.talk.cancel_sign_up(peer, now=NOW, by=peer)
            except NotSignedUp:
                return
            raise AssertionError("a cancellation by someone not signed up was accepted")
        self.talk.cancel_sign_up(peer, now=NOW, by=peer)
        (self.confirmed if peer in self.confirmed else self.waitlist).remove(peer)
        assert self._promoted_in(self.talk.collect_events()) == self._promote()

    @rule(capacity=st.integers(min_value=1, max_value=8))
    def reschedule(self, capacity: int) -> None:
        later = STARTS + timedelta(days=capacity)
        try:
            self.talk.reschedule(later.date(), f"room-{capacity}", later, later + timedelta(minutes=30), capacity,
                                 now=NOW, by=self.speaker)
        except DomainError:
            assert capacity < len(self.confirmed)
            return
        self.capacity = capacity
        assert self._promoted_in(self.talk.collect_events()) == self._promote()

    @invariant()
    def seats_match_the_model(self) -> None:
        assert self.talk.confirmed == self.confirmed
        assert self.talk.waitlist == self.waitlist

    @invariant()
    def confirmed_never_exceed_capacity(self) -> None:
        assert len(self.talk.confirmed) <= self.talk.capacity

    @invariant()
    def nobody_appears_twice(self) -> None:
        everyone = self.talk.confirmed + self.talk.waitlist
        assert len(everyone) == len(set(everyone))

    @invariant()
    def a_waitlist_only_when_full(self) -> None:
        if self.talk.waitlist:
            assert len(self.talk.confirmed) == self.talk.capacity


TalkSeats.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_sign_ups_cancellations_and_moves_keep_seats_consistent = TalkSeats.TestCase
