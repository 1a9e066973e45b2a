"""Histories for the benchmarks: a programme set up through the real commands, then peers, talks,
lunch days and sign-ups made with the real aggregates (their own command methods, so every
invariant is checked and every event has its real topic) and saved in large batches through
``store.save(*aggregates)``. Going through the services one command at a time would take most of
an hour for 1M events; the events are the same.

Some peers ("bench peers") are registered but never signed up to anything: the sign-up
benchmarks pair them with talks, so every measured sign-up is a fresh, valid one.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from uuid import UUID, uuid4

from werkzeug.security import generate_password_hash

from commonroom.domain.lunchday import LunchDay
from commonroom.domain.peer import EmailClaim, Peer
from commonroom.domain.talk import Talk
from commonroom.platform.bootstrap import Commonroom
from commonroom.platform.services import SYSTEM_ACTOR

ROOMS = 8  # the same at every size, so a page shows the same number of slots at 10k and at 1M
BENCH_PEERS = 1000
SIGNUPS_PER_TALK, CANCELS_PER_TALK = 60, 20
SKILLS = ["python", "sql", "tax law", "audit", "negotiation", "rust", "statistics", "design", "french",
          "gardening", "kubernetes", "accounting", "public speaking", "excel", "ux research", "go"]
DEPARTMENTS = ["Audit", "Tax", "Advisory", "Engineering", "Legal", "People", "Finance", "Sales"]


@dataclass
class History:
    events: int
    organizer: UUID
    talks: list[UUID]
    bench_peers: list[UUID]
    seconds: float
    next_pair: int = 0
    notes: list[str] = field(default_factory=list)

    def remaining(self) -> int:
        return len(self.talks) * len(self.bench_peers) - self.next_pair

    def pairs(self, n: int) -> list[tuple[UUID, UUID]]:
        """``n`` (talk, peer) sign-ups never made before: pair k is (talk k mod T, peer k div T)."""
        talks, peers = self.talks, self.bench_peers
        if self.next_pair + n > len(talks) * len(peers):
            raise RuntimeError("the history has run out of fresh sign-ups; make it larger")
        chosen = []
        for k in range(self.next_pair, self.next_pair + n):
            chosen.append((talks[k % len(talks)], peers[k // len(talks)]))
        self.next_pair += n
        return chosen


def future_weekdays(start: date):
    day = start
    while True:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


class Batcher:
    """Collects aggregates with pending events and saves them together every ``size`` events."""

    def __init__(self, app: Commonroom, size: int) -> None:
        self.app, self.size = app, size
        self.pending: dict[UUID, object] = {}
        self.count = 0
        self.saved = 0

    def add(self, *aggregates) -> None:
        for aggregate in aggregates:
            self.pending[aggregate.id] = aggregate
        self.count = sum(len(a.pending_events) for a in self.pending.values())
        if self.count >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.app.store.save(*self.pending.values())
            self.saved += self.count
        self.pending, self.count = {}, 0


def generate(app: Commonroom, events: int, seed: int = 7, batch: int = 5000, say=print) -> History:
    """About ``events`` events in ``app``'s store (it must be empty)."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = datetime.now(timezone.utc)

    # The programme through the real commands.
    hash_ = generate_password_hash("benchmark-password")
    organizer = app.people.register("Olga Organizer", "olga@bench.example", "People", "benchmark-password",
                                    "Europe/London").peer_id
    app.people.grant_organizer(organizer, by=SYSTEM_ACTOR)
    app.programme.start("Mini-scule", "Europe/London", dtime(12, 0), 30, by=organizer)
    app.programme.change(lambda p: p.change_weekdays([0, 1, 2, 3, 4], date.today() - timedelta(days=365),
                                                     by=organizer), by=organizer)
    for i in range(ROOMS):
        app.programme.change(lambda p, i=i: p.add_room(f"Room {i + 1}", 20 + 5 * i, by=organizer), by=organizer)
    programme = app.programme.programme()
    room_ids = list(programme.rooms)

    per_talk = 3 + SIGNUPS_PER_TALK + CANCELS_PER_TALK
    peers_n = max(200, events // 50) + BENCH_PEERS
    talks_n = max(ROOMS, (events - 4 * peers_n) // per_talk)
    batcher = Batcher(app, batch)

    # Peers: registration, email claim, two offered skills.
    peer_ids: list[UUID] = []
    for i in range(peers_n):
        peer_id = uuid4()
        email = f"peer{i}@bench.example"
        peer = Peer(id=peer_id, name=f"Peer {i:06d}", email=email, department=DEPARTMENTS[i % len(DEPARTMENTS)],
                    timezone="Europe/London", password_hash=hash_, by=peer_id)
        for skill in rng.sample(SKILLS, 2):
            peer.offer_skill(skill, by=peer_id)
        batcher.add(peer, EmailClaim(email=email, peer_id=peer_id, by=peer_id))
        peer_ids.append(peer_id)
    history_peers, bench_peers = peer_ids[:-BENCH_PEERS], peer_ids[-BENCH_PEERS:]

    # Talks: proposed, scheduled into the next free lunch slot (booked on its lunch day), signed up
    # for (past capacity: the waitlist), some sign-ups cancelled (the waitlist moves up).
    days = future_weekdays(date.today() + timedelta(days=2))
    talk_ids: list[UUID] = []
    lunch_day = None
    for t in range(talks_n):
        slot = t % ROOMS
        if slot == 0:
            if lunch_day is not None:
                batcher.add(lunch_day)
            lunch_day = LunchDay(day=next(days), by=organizer)
        day = lunch_day.day
        speaker = history_peers[t % len(history_peers)]
        talk = Talk(speaker_id=speaker, title=f"Talk {t} on {SKILLS[t % len(SKILLS)]}",
                    abstract="A half-hour lunchtime talk generated for the benchmark.",
                    topics=[SKILLS[t % len(SKILLS)], SKILLS[(t + 3) % len(SKILLS)]], by=speaker)
        room = programme.check_slot(day, room_ids[slot])
        starts_at, ends_at = programme.lunch_times(day)
        lunch_day.book(talk.id, room_ids[slot], speaker, by=speaker)
        talk.schedule(day=day, room_id=room_ids[slot], starts_at=starts_at, ends_at=ends_at,
                      capacity=room["capacity"], now=now, by=speaker)
        attendees = rng.sample(history_peers, min(SIGNUPS_PER_TALK + 1, len(history_peers)))
        attendees = [p for p in attendees if p != speaker][:SIGNUPS_PER_TALK]
        for peer in attendees:
            talk.sign_up(peer, now=now, by=peer)
        for peer in rng.sample(attendees, CANCELS_PER_TALK):
            talk.cancel_sign_up(peer, now=now, by=peer)
        batcher.add(talk, lunch_day)
        talk_ids.append(talk.id)
    batcher.flush()
    total = app.store.max_notification_id()
    seconds = time.perf_counter() - started
    say(f"  generated {total:,} events ({peers_n:,} peers, {talks_n:,} talks) in {seconds:.1f}s")
    return History(events=total, organizer=organizer, talks=talk_ids, bench_peers=bench_peers, seconds=seconds)
