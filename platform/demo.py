"""A believable demo organisation, seeded through the same services the web app uses.

Every peer, talk, sign-up and rating is a real command on ``PeopleService``, ``ProgrammeService``
and ``TalkService``, so the domain's rules apply to the demo as to anyone. Those rules refuse to
schedule a talk into the past or to sign up after a talk has started, so the demo does not write
history directly: it plans three months of plausible actions, sorts them by the moment each
would have happened, and performs them in order while a ``DemoClock`` (the services' clock) is
moved forward to that moment. The domain's decisions (is the slot in the future? has the talk
started? is attendance recorded after the start?) therefore see the demo's moment.

Beside the lunch talks the demo trades and mentors, through ``TradeService``, ``MentoringService``
and ``DirectoryService`` (``_Exchanges``): a dozen trades between peers whose offered and wanted
skills complement each other (accepted, countered, declined with a kind reason, withdrawn, paused
and resumed, one still open, one ended with both reflections), sessions every week or two that the
other party confirms (one disputed, the last few days' still pending), a circle of three, a
mentoring programme (three mentors; two thriving pairs, one ended with its goals met, one silent
for over three weeks that the health report flags, and an applicant still waiting), a few
endorsements from people who learned from the endorsee, and "k8s" merged into "Kubernetes". They
draw from their own random stream, so the talks' story for a seed is the same with or without
them; where skills do not complement by chance, a peer's wants are planned to (before anyone
registers, so the profile shows them from the start).

Event timestamps follow the demo's timeline too. eventsourcing 9.5.6 stamps every new event with
``event_class.create_timestamp()``, a static method that every event class inherits from
``eventsourcing.domain.CanCreateTimestamp`` (it returns ``datetime_now_with_tzinfo()``, the real
time). ``demo_timestamps(clock)`` swaps that one method, for the length of a ``with`` block, for
one that reads the demo clock, and puts the original back on exit, also on error. It is the
narrowest hook the library has: only the "when did this event occur" stamp changes (not
``datetime.now`` anywhere else, not the domain, not the store), and only while the demo runs.
Because actions run in the order of their moments and an action planned during the run for an
earlier moment runs at the current one, timestamps never decrease along the notification log
(the events of one action share its moment). So the graph's timeline, the directory's ``as_of``
views, "registered at" and "signed up at" show the simulated months, not "just now". The swap is
process-wide: the demo is single-threaded, and nothing else may record events in the same process
while it runs (the CLI's ``demo`` command runs on its own).

Passwords: every demo account's password is ``commonroom``. Registration goes through
``PeopleService.register``; the demo's subclass only remembers the one hash (scrypt costs about
0.2 s a call, which would dominate the run) instead of hashing the same password again.
"""

from __future__ import annotations

import heapq
import random
import time as _time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import TZINFO, CanCreateTimestamp

from commonroom.domain.talk import Talk
from commonroom.platform.bootstrap import Commonroom
from commonroom.platform.directory import DirectoryService
from commonroom.platform.services import SYSTEM_ACTOR, Clock, PeopleService, ProgrammeService, TalkService
from commonroom.platform.trading import MentoringService, TradeService

DEMO_PASSWORD = "commonroom"
ORGANIZER_EMAIL = "ada@example.org"
PROGRAMME_TZ = "Europe/London"
LUNCH_START, LUNCH_MINUTES = time(12, 30), 45
GROWTH = ([2], [1, 3], [0, 2, 4], [0, 1, 2, 3, 4])  # Wed -> Tue+Thu -> Mon+Wed+Fri -> every weekday
ANNOUNCE_DAYS = 28  # weekday changes and new rooms are announced four weeks ahead
ROOMS = (("Library", 12, 0), ("Atrium", 20, 0), ("Boardroom", 8, 2))  # name, seats, growth stage added

SKILLS = {
    "Audit": ["IFRS 17", "Audit sampling", "Internal controls", "Revenue recognition", "Journal testing"],
    "Tax": ["Transfer pricing", "VAT", "Pillar Two", "R&D tax credits", "Payroll tax"],
    "Advisory": ["Due diligence", "Financial modelling", "Valuation", "Workshop facilitation",
                 "Storytelling"],
    "Risk": ["Cyber risk", "Model validation", "Fraud detection", "Operational resilience", "ESG reporting"],
    "IT": ["Python", "SQL", "Power BI", "Cloud security", "Process automation"],
    "HR": ["Coaching", "Interviewing", "Feedback conversations", "Wellbeing", "Onboarding"],
    "Finance": ["Excel power tips", "Forecasting", "Treasury", "Cost allocation", "Procurement"],
}
FIRST_NAMES = (
    "Ada Grace Omar Priya Lukas Mei Tomasz Amara Jonas Sofia Kwame Ingrid Rahul Chloe Mateo Aisha "
    "Felix Hannah Diego Yuki Noah Leila Samuel Freya Arjun Elena Kofi Maja Ravi Nina Oscar Zara Hugo "
    "Ines Tariq Clara Ben Anya Malik Ruth Emil Fatima Jakub Lena Ikenna Olivia Pedro Sana Theo Vera "
    "Wei Alice Marcus Nadia Kenji Rosa Stefan Tara Viktor Yara Leon Bianca"
).split()
SURNAMES = (
    "Lovelace Hopper Haddad Sharma Becker Chen Nowak Okafor Lindqvist Rossi Mensah Berg Iyer Martin "
    "Garcia Rahman Vogel Cohen Fernandes Tanaka Williams Karimi Osei Jensen Patel Petrova Boateng "
    "Kowalski Menon Novak Andersson Malik Dubois Costa Aziz Moreau Clarke Ivanova Bello Schmidt"
).split()
TITLES = (
    "{0} in thirty minutes", "What I wish I had known about {0}", "{0}: lessons from the field",
    "A practical introduction to {0}", "{0} without the jargon", "Five mistakes we made with {0}",
    "{0} for the rest of us", "Getting started with {0}",
)
COMMENTS = ("", "", "Really useful, thanks!", "Clear and practical.", "Would love a follow-up session.",
            "A bit fast for me, but great slides.", "Learned something I can use tomorrow.")


class DemoClock(Clock):
    """The services' clock during the demo: it reads whatever moment the demo has reached."""

    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or datetime.now(timezone.utc)

    def now(self) -> datetime:
        return self.moment


@contextmanager
def demo_timestamps(clock: Clock) -> Iterator[None]:
    """Within the block, every new event is stamped with ``clock.now()`` instead of the real time.

    Not thread-safe: it swaps a class attribute every event class shares (see the module docstring).
    """
    original = CanCreateTimestamp.__dict__["create_timestamp"]
    CanCreateTimestamp.create_timestamp = staticmethod(lambda: clock.now().astimezone(TZINFO))
    try:
        yield
    finally:
        CanCreateTimestamp.create_timestamp = original


class HashOncePeople(PeopleService):
    """``PeopleService`` that hashes each distinct password once and reuses the hash."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._hashes: dict[str, str] = {}

    def hash_password(self, password: object) -> str:  # type: ignore[override]
        key = password if isinstance(password, str) else repr(password)
        if key not in self._hashes:
            self._hashes[key] = PeopleService.hash_password(password)
        return self._hashes[key]


def with_clock(app: Commonroom, clock: Clock) -> Commonroom:
    """The same store and read models, with services that run on ``clock`` (do not ``close()`` it)."""
    args = (app.store, clock, app.people.locks, app.stats)
    return replace(app, clock=clock, people=HashOncePeople(*args), programme=ProgrammeService(*args),
                   talks=TalkService(*args), trades=TradeService(*args), mentoring=MentoringService(*args),
                   directory=DirectoryService(*args, app.engine), _follower=None)


@dataclass
class DemoSummary:
    peers: int = 0
    talks: int = 0
    sign_ups: int = 0
    attendance: int = 0
    feedback: int = 0
    trades: int = 0
    sessions: int = 0  # trade sessions confirmed
    circles: int = 0
    mentorships: int = 0
    contacts: int = 0
    endorsements: int = 0
    aliases: int = 0
    events: int = 0
    seconds: float = 0.0
    organizers: list[str] = field(default_factory=list)


@dataclass
class DemoPeer:
    name: str
    email: str
    department: str
    joined: datetime
    offers: list[str]
    wants: list[str]
    peer_id: UUID | None = None
    talks: int = 0
    speaks_on: date | None = None


class Timeline:
    """Actions to perform, each at its moment, in the order of their moments (then of planning)."""

    def __init__(self, clock: DemoClock, until: datetime) -> None:
        self.clock, self.until = clock, until
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._planned = 0
        self._current: datetime | None = None  # the moment of the action being performed

    def at(self, moment: datetime, action: Callable[[], None]) -> None:
        """Plan ``action``; actions whose moment has not come yet (after ``until``) never happen.

        An action planned while the timeline runs, for a moment already past, happens now.
        """
        if self._current is not None:
            moment = max(moment, self._current)
        if moment <= self.until:
            self._planned += 1
            heapq.heappush(self._heap, (moment, self._planned, action))

    def run(self, on_step: Callable[[datetime], None] | None = None) -> None:
        while self._heap:
            moment, _, action = heapq.heappop(self._heap)
            self.clock.moment = self._current = moment
            action()
            if on_step is not None:
                on_step(moment)


def seed_demo(app: Commonroom, *, peers: int = 48, seed: int = 1, weeks_back: int = 13, weeks_ahead: int = 4,
              on_progress: Callable[[float], None] | None = None, now: datetime | None = None) -> DemoSummary:
    """Seed an empty store with an organisation whose programme started ``weeks_back`` weeks ago.

    ``on_progress`` receives the fraction (0..1) of the demo's timeline performed so far. ``now``:
    the moment the story reaches (by default the present; the programme's days follow from it).
    """
    started = _time.perf_counter()
    head_before = app.store.max_notification_id()
    now = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    clock = DemoClock(now)
    demo = with_clock(app, clock)
    timeline = Timeline(clock, until=now)
    seeder = _Seeder(demo, random.Random(seed), timeline, now, weeks_back, weeks_ahead)
    seeder.plan(peers)
    # trades, mentoring, endorsements draw from their own stream: the talks' story stays as it was
    _Exchanges(seeder, random.Random(f"exchanges-{seed}")).plan()
    span = (now - seeder.opening).total_seconds()
    with demo_timestamps(clock):
        timeline.run(None if on_progress is None else
                     lambda moment: on_progress((moment - seeder.opening).total_seconds() / span))
    app.projector.catch_up()
    summary = seeder.summary
    summary.events = app.store.max_notification_id() - head_before
    summary.seconds = _time.perf_counter() - started
    return summary


class _Seeder:
    """Plans the organisation's history onto the timeline (one method per kind of thing)."""

    def __init__(self, app: Commonroom, rng: random.Random, timeline: Timeline, now: datetime,
                 weeks_back: int, weeks_ahead: int) -> None:
        self.app, self.rng, self.timeline, self.now = app, rng, timeline, now
        today = now.date()
        self.first_day = today - timedelta(weeks=weeks_back, days=today.weekday())  # a Monday
        self.last_day = today + timedelta(weeks=weeks_ahead)
        self.opening = datetime.combine(self.first_day - timedelta(days=28), time(9), tzinfo=timezone.utc)
        step = max(1, weeks_back // (len(GROWTH) - 1))
        self.stages = [self.first_day + timedelta(weeks=step * k) for k in range(len(GROWTH))]
        self.peers: list[DemoPeer] = []
        self.organizer: DemoPeer | None = None
        self.days_off: dict[date, str] = {}
        self.order: dict[UUID, int] = {}  # peer id -> registration order, for deterministic draws
        self.held: list[tuple[DemoPeer, list[str], list[UUID]]] = []  # talks held: speaker, topics, who came
        self.summary = DemoSummary()

    # --- shape of the programme (computed up front so talks are planned into real slots) -------
    def stage(self, day: date) -> int:
        return max(k for k, effective in enumerate(self.stages) if effective <= day)

    def is_lunch_day(self, day: date) -> bool:
        return day >= self.first_day and day.weekday() in GROWTH[self.stage(day)] and day not in self.days_off

    def lunch_days(self) -> list[date]:
        days = (self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1))
        return [d for d in days if self.is_lunch_day(d)]

    def plan(self, peers: int) -> None:
        self.plan_peers(peers)
        self.plan_programme()
        for day in self.lunch_days():
            self.plan_day(day)
        self.plan_open_proposals()

    # --- people ---------------------------------------------------------------------------------
    def plan_peers(self, count: int) -> None:
        departments = list(SKILLS)
        for n in range(count):
            first = FIRST_NAMES[n % len(FIRST_NAMES)]
            surname = "Lovelace" if n == 0 else self.rng.choice(SURNAMES)
            local = first.lower() if n < len(FIRST_NAMES) else f"{first}.{surname}{n}".lower()
            department = "Audit" if n == 0 else departments[n % len(departments)]
            own, others = SKILLS[department], [s for d in departments if d != department for s in SKILLS[d]]
            offers = self.rng.sample(own, self.rng.choice((0, 1, 2, 2, 3)))
            wants = self.rng.sample(others, self.rng.choice((1, 2, 3)))
            # most joined in the month before the launch, a few came later
            days = self.rng.uniform(0, 27) if self.rng.random() < 0.8 else self.rng.uniform(28, 70)
            joined = self.opening + timedelta(minutes=n) if n == 0 else self.opening + timedelta(days=days)
            peer = DemoPeer(f"{first} {surname}", f"{local}@example.org", department, joined, offers, wants)
            self.peers.append(peer)
            self.timeline.at(joined, lambda p=peer: self.register(p))
        self.organizer = self.peers[0]
        self.organizer.offers = ["Workshop facilitation", "Audit sampling"]

    def register(self, peer: DemoPeer) -> None:
        people = self.app.people
        registered = people.register(peer.name, peer.email, peer.department, DEMO_PASSWORD, PROGRAMME_TZ)
        peer.peer_id = registered.peer_id
        self.order[peer.peer_id] = len(self.order)
        for skill in peer.offers:
            people.offer_skill(peer.peer_id, skill, by=peer.peer_id)
        for skill in peer.wants:
            people.want_skill(peer.peer_id, skill, by=peer.peer_id)
        if peer is self.organizer:
            people.grant_organizer(peer.peer_id, by=SYSTEM_ACTOR)  # the first organizer, as the CLI makes one
            self.summary.organizers.append(peer.email)
        self.summary.peers += 1

    # --- the programme --------------------------------------------------------------------------
    def plan_programme(self) -> None:
        ada, launch = self.organizer, self.opening + timedelta(hours=1)
        change = self.app.programme.change

        def start() -> None:
            self.app.programme.start("Mini-scule", PROGRAMME_TZ, LUNCH_START, LUNCH_MINUTES, by=ada.peer_id)

        self.timeline.at(launch, start)
        for name, capacity, stage in ROOMS:
            moment = max(launch, self.at_nine(self.stages[stage] - timedelta(days=ANNOUNCE_DAYS)))
            self.timeline.at(moment + timedelta(minutes=5), lambda n=name, c=capacity: change(
                lambda p: p.add_room(n, c, by=ada.peer_id), by=ada.peer_id))
        for effective, weekdays in zip(self.stages, GROWTH):
            announced = max(launch, self.at_nine(effective - timedelta(days=ANNOUNCE_DAYS)))
            moment = announced + timedelta(minutes=10)
            self.timeline.at(moment, lambda e=effective, w=weekdays: change(
                lambda p: p.change_weekdays(w, e, by=ada.peer_id), by=ada.peer_id))
        self.plan_day_off(self.stages[1] + timedelta(weeks=1), "Company offsite")
        self.plan_day_off(self.now.date() + timedelta(weeks=2), "Firm-wide training day")

    def plan_day_off(self, near: date, reason: str) -> None:
        day = next(d for d in (near + timedelta(days=n) for n in range(14)) if self.is_lunch_day(d))
        self.days_off[day] = reason
        ada, moment = self.organizer, self.at_nine(day - timedelta(days=21))
        self.timeline.at(max(moment, self.opening + timedelta(hours=2)), lambda: self.app.programme.change(
            lambda p: p.add_day_off(day, reason, by=ada.peer_id), by=ada.peer_id))

    @staticmethod
    def at_nine(day: date) -> datetime:
        return datetime.combine(day, time(9), tzinfo=timezone.utc)

    # --- talks ----------------------------------------------------------------------------------
    def plan_day(self, day: date) -> None:
        starts = datetime.combine(day, LUNCH_START, tzinfo=ZoneInfo(PROGRAMME_TZ))
        rooms = [r for r in ROOMS if self.stages[r[2]] <= day]
        count = min(len(rooms), self.rng.choices((1, 2, 3), weights=(50, 38, 12))[0])
        for name, capacity, _ in self.rng.sample(rooms, count):
            proposed = starts - timedelta(days=self.rng.uniform(8, 24))
            speaker = self.pick_speaker(proposed, day)
            if speaker is not None:
                proposed = max(proposed, speaker.joined + timedelta(hours=1))
                self.plan_talk(speaker, starts, name.lower(), capacity, proposed)

    def pick_speaker(self, before: datetime, day: date) -> DemoPeer | None:
        ready = [p for p in self.peers if p.offers and p.joined < before and p.speaks_on != day]
        if not ready:
            return None
        fewest = min(p.talks for p in ready)
        speaker = self.rng.choice([p for p in ready if p.talks == fewest])
        speaker.talks += 1
        speaker.speaks_on = day
        return speaker

    def proposal(self, speaker: DemoPeer) -> tuple[str, str, list[str]]:
        topics = self.rng.sample(speaker.offers, min(len(speaker.offers), self.rng.choice((1, 1, 2))))
        title = self.rng.choice(TITLES).format(topics[0])
        abstract = (f"{speaker.name.split()[0]} from {speaker.department} shares how the team uses "
                    f"{' and '.join(topics)} day to day, with examples and time for questions.")
        return title, abstract, topics

    def plan_talk(self, speaker: DemoPeer, starts: datetime, room_id: str, capacity: int,
                  proposed: datetime) -> None:
        proposed = min(proposed, self.now - timedelta(minutes=30))
        scheduled = proposed + timedelta(minutes=self.rng.randint(5, 25))
        title, abstract, topics = self.proposal(speaker)
        talk: dict = {}

        def propose() -> None:
            talk["id"] = self.propose(speaker, title, abstract, topics)

        def schedule() -> None:
            self.app.talks.schedule(talk["id"], starts.date(), room_id, by=speaker.peer_id)

        self.timeline.at(proposed, propose)
        self.timeline.at(scheduled, schedule)
        self.plan_sign_ups(talk, speaker, topics, capacity, scheduled, starts)
        ends = starts + timedelta(minutes=LUNCH_MINUTES)
        marked = ends + timedelta(minutes=self.rng.randint(5, 90))
        self.timeline.at(marked, lambda: self.record_attendance(talk, speaker, topics, ends))

    def plan_open_proposals(self) -> None:
        for speaker in self.rng.sample([p for p in self.peers if p.offers], 4):
            title, abstract, topics = self.proposal(speaker)
            moment = self.now - timedelta(days=self.rng.uniform(0.5, 6))
            self.timeline.at(max(moment, speaker.joined + timedelta(hours=1)),
                             lambda s=speaker, t=title, a=abstract, ts=topics: self.propose(s, t, a, ts))

    def propose(self, speaker: DemoPeer, title: str, abstract: str, topics: list[str]) -> UUID:
        talk_id, _ = self.app.talks.propose(speaker.peer_id, title, abstract, topics)
        self.summary.talks += 1
        return talk_id

    # --- sign-ups, attendance, feedback ---------------------------------------------------------
    def plan_sign_ups(self, talk: dict, speaker: DemoPeer, topics: list[str], capacity: int,
                      opened: datetime, starts: datetime) -> None:
        window = (starts - timedelta(hours=1) - opened).total_seconds()
        others = [p for p in self.peers if p is not speaker]
        weights = [4 if set(p.wants) & set(topics) else 1 for p in others]
        wanted = min(len(others), round(capacity * self.rng.uniform(0.45, 1.4)))
        chosen: list[DemoPeer] = []
        while len(chosen) < wanted:
            pick = self.rng.choices(others, weights)[0]
            if pick not in chosen:
                chosen.append(pick)
        for peer in chosen:
            moment = opened + timedelta(seconds=self.rng.uniform(60, max(window, 120)))
            if moment < peer.joined or moment >= starts:
                continue
            self.timeline.at(moment, lambda p=peer: self.sign_up(talk, p))
            if self.rng.random() < 0.12:  # changed their mind; the first on the waitlist moves up
                later = moment + (starts - moment) * self.rng.uniform(0.2, 0.9)
                self.timeline.at(later, lambda p=peer: self.app.talks.cancel_sign_up(talk["id"], p.peer_id))

    def sign_up(self, talk: dict, peer: DemoPeer) -> None:
        self.app.talks.sign_up(talk["id"], peer.peer_id)
        self.summary.sign_ups += 1

    def record_attendance(self, talk: dict, speaker: DemoPeer, topics: list[str], ends: datetime) -> None:
        # who is confirmed, from the talk itself: projecting here, once a talk, would triple the run
        confirmed = self.app.talks.get(talk["id"], Talk, "talk").confirmed
        if not confirmed:
            return
        in_demo_order = sorted(confirmed, key=self.order.__getitem__)  # ids are random
        attended = {peer_id: self.rng.random() < 0.87 for peer_id in in_demo_order}
        self.app.talks.record_attendance(talk["id"], attended, by=speaker.peer_id)
        self.summary.attendance += len(attended)
        self.held.append((speaker, topics, [peer_id for peer_id, was_there in attended.items() if was_there]))
        for peer_id, was_there in attended.items():
            if was_there and self.rng.random() < 0.6:
                moment = ends + timedelta(hours=self.rng.uniform(1, 48))
                rating = self.rng.choices((1, 2, 3, 4, 5), weights=(2, 5, 15, 40, 38))[0]
                comment = self.rng.choice(COMMENTS)
                self.timeline.at(moment, lambda p=peer_id, r=rating, c=comment: self.feedback(talk, p, r, c))

    def feedback(self, talk: dict, peer_id: UUID, rating: int, comment: str) -> None:
        self.app.talks.give_feedback(talk["id"], peer_id, rating, comment)
        self.summary.feedback += 1


# --- exchanges: trades, a circle, mentoring, endorsements, an alias merge ---------------------------
TRADE_STORIES = (  # how each trade goes, and when it is offered (a fraction of the programme so far)
    ("ended", 0.04), ("paused", 0.08), ("countered", 0.12), ("active", 0.18), ("disputed", 0.25),
    ("one-sided", 0.32), ("declined", 0.4), ("active", 0.45), ("withdrawn", 0.55), ("active", 0.62),
    ("active", 0.74), ("open", 0.97),
)
DECLINE_REASON = ("Thank you for thinking of me! Busy season has just started for us; could we pick this up "
                  "in the new year?")
REFLECTIONS = (
    "I came in knowing the words and leave knowing how to use them. Thank you for your patience.",
    "Explaining it every week made me understand my own subject better. A real swap.",
)
ENDORSEMENTS = (
    "Explains the tricky parts without making you feel slow.",
    "Practical, patient and generous with examples.",
    "I use what I learned every week.", "Clear, well prepared and kind.", "Made a dry topic fun.",
)
CONTACT_NOTES = {
    "call": ("Went through my plan for the quarter.", "Talked about a tricky client conversation.", ""),
    "email": ("Sent reading for next time.", ""),
    "document review": ("Reviewed my draft; lots of useful comments.", ""),
}


class _Exchanges:
    """Plans trades between peers whose skills complement each other, one trade circle, a mentoring
    programme, a few endorsements and an alias merge onto the seeder's timeline."""

    def __init__(self, seeder: _Seeder, rng: random.Random) -> None:
        self.seeder, self.rng = seeder, rng
        self.app, self.timeline, self.summary = seeder.app, seeder.timeline, seeder.summary
        self.now, self.start = seeder.now, seeder.at_nine(seeder.first_day)
        self.organizer = seeder.organizer
        self.peers = seeder.peers[1:]  # all but the organizer, who runs mentoring (trades may include her)
        self.greeters = seeder.peers[:2]  # whom the CLI invites to sign in: each takes part in a trade
        self.trading: dict[str, int] = {}  # email -> trades planned
        self.paired: set[frozenset[str]] = set()  # the emails of each pair already trading
        self.endorsed: set[tuple[str, str]] = set()  # (endorser, endorsee) emails

    def when(self, fraction: float) -> datetime:
        """A moment ``fraction`` of the way from the programme's first day to now."""
        return self.start + (self.now - self.start) * fraction

    def some(self, peers: list[DemoPeer], most: int = 60) -> list[DemoPeer]:
        """At most ``most`` of ``peers``, in their order: pair searches stay small in a big demo."""
        if len(peers) <= most:
            return peers
        chosen = set(map(id, self.rng.sample(peers, most)))
        return [p for p in peers if id(p) in chosen]

    def hours(self, low: float, high: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low, high))

    def plan(self) -> None:
        self.plan_alias()
        for story, fraction in TRADE_STORIES:
            self.plan_trade(story, self.when(fraction))
        self.plan_circle(self.when(0.5))
        self.plan_mentoring()
        for fraction in (0.5, 0.8):
            self.timeline.at(self.when(fraction), self.endorse_a_speaker)

    # --- trades ---------------------------------------------------------------------------------
    def partners(self, before: datetime, story: str,
                 involving: DemoPeer | None) -> tuple[DemoPeer, DemoPeer, str, str] | None:
        """(proposer, partner, offer, want): both joined before, reciprocal skills if any pair has them."""
        def most(p: DemoPeer) -> int:
            # two trades each; the organizer's second is the last one, still open, left for her to answer
            return 2 if story == "open" or p is not self.seeder.peers[0] else 1

        def free(p: DemoPeer) -> bool:
            return p.joined < before - timedelta(days=1) and self.trading.get(p.email, 0) < most(p)

        ready = self.some([p for p in self.seeder.peers if p.offers and free(p)])
        if involving is not None and involving not in ready:
            if not free(involving):
                return None
            ready.append(involving)  # a partner may offer nothing yet
        reciprocal, one_sided = [], []
        for a in ready:
            for b in ready:
                if a is b or frozenset((a.email, b.email)) in self.paired:
                    continue
                if involving is not None and involving not in ((b,) if story == "open" else (a, b)):
                    continue  # an open trade waits for the answer of the one it involves
                teach = [s for s in a.offers if s in b.wants and s not in b.offers]
                if not teach and b is involving and story == "open":  # the organizer gets an offer
                    teach = [s for s in a.offers if s not in b.offers]  # of something they then want
                learn = [s for s in b.offers if s in a.wants and s not in a.offers]
                back = learn[0] if learn else next((s for s in b.offers if s not in a.offers), "")
                if not teach or (not back and story != "one-sided"):
                    continue
                if story == "countered" and not [s for s in b.offers if s not in (back, *a.offers)]:
                    continue  # the partner needs something else to teach instead
                (reciprocal if learn else one_sided).append((a, b, teach[0], back))
        found = reciprocal or one_sided
        if not found:
            return None
        a, b, offer, want = self.rng.choice(found)
        # planned before anyone registers, so these wants are on the profiles from the start
        if offer not in b.wants:
            b.wants.append(offer)
        if want not in a.wants and story != "one-sided":
            a.wants.append(want)
        self.paired.add(frozenset((a.email, b.email)))
        for peer in (a, b):
            self.trading[peer.email] = self.trading.get(peer.email, 0) + 1
        return a, b, offer, "" if story == "one-sided" else want

    def plan_trade(self, story: str, offered: datetime) -> None:
        """The first peer invited to sign in who has no trade yet takes part, if this one can fit them;
        the organizer is asked for the last (still open) trade."""
        involving = [p for p in self.greeters if p.email not in self.trading]
        if story == "open":
            involving.insert(0, self.seeder.peers[0])
        found = next(filter(None, (self.partners(offered, story, p) for p in [*involving, None])), None)
        if found is None:
            return
        a, b, offer, want = found
        trades, trade = self.app.trades, {}
        first = b.name.split()[0]
        message = (f"Hi {first}, I saw you would like to learn {offer}." +
                   (f" I would love help with {want} in return: fancy a swap?" if want else
                    " Happy to show you what I know, no strings attached."))

        def propose() -> None:
            trade["id"], _ = trades.propose(a.peer_id, b.peer_id, offer, want, message)
            self.summary.trades += 1

        self.timeline.at(offered, propose)
        answered = offered + self.hours(3, 40)
        if story == "open":
            return
        if story == "declined":
            self.timeline.at(answered, lambda: trades.decline(trade["id"], DECLINE_REASON, by=b.peer_id))
            return
        if story == "withdrawn":
            withdrawn = offered + self.hours(90, 180)
            self.timeline.at(withdrawn, lambda: trades.withdraw(trade["id"], by=a.peer_id))
            return
        if story == "countered":
            want = next(s for s in b.offers if s not in (want, *a.offers))
            self.timeline.at(answered, lambda w=want: trades.counter(trade["id"], w, by=b.peer_id))
            answered += self.hours(2, 30)
            self.timeline.at(answered, lambda: trades.accept(trade["id"], by=a.peer_id))
        else:
            self.timeline.at(answered, lambda: trades.accept(trade["id"], by=b.peer_id))
        windows = [(answered, self.now)]
        if story == "ended":
            windows = [(answered, self.when(0.7))]
        elif story == "paused":
            paused, resumed = self.when(0.45), self.when(0.65)
            windows = [(answered, paused), (resumed + timedelta(hours=1), self.now)]
            self.timeline.at(paused, lambda: trades.pause(trade["id"], by=b.peer_id))
            self.timeline.at(resumed, lambda: trades.resume(trade["id"], by=a.peer_id))
        self.plan_sessions(trade, a, b, offer, want, windows, story)
        if story == "ended":
            ended = self.when(0.72)
            reflections = self.rng.sample(REFLECTIONS, 2)
            self.timeline.at(ended, lambda: trades.end(trade["id"], reflections[0], by=a.peer_id))
            self.timeline.at(ended + self.hours(20, 70), lambda: trades.reflect(trade["id"], reflections[1],
                                                                                 by=b.peer_id))

    def plan_sessions(self, trade: dict, a: DemoPeer, b: DemoPeer, offer: str, want: str,
                      windows: list[tuple[datetime, datetime]], story: str) -> None:
        """Sessions every week or two, teaching in turns (one-sided: the proposer teaches); the other
        party confirms a day or so later, except in the last three days (still pending); in a
        disputed trade the second session is disputed."""
        number = 0
        for opens, closes in windows:
            moment = opens + self.hours(48, 150)
            while moment < closes:
                number += 1
                teacher, learner = (a, b) if not want or number % 2 else (b, a)
                topic = offer if teacher is a else want
                logger = self.rng.choice((teacher, learner))
                checker = learner if logger is teacher else teacher
                minutes = self.rng.choice((30, 45, 60, 60, 90))
                self.timeline.at(moment, lambda t=teacher, tp=topic, m=minutes, lg=logger:
                                 self.app.trades.log_session(trade["id"], t.peer_id, tp, self.today(), m,
                                                             by=lg.peer_id))
                answered = moment + self.hours(4, 40)
                if moment > self.now - timedelta(days=3):
                    pass  # the other party has not got round to it yet
                elif story == "disputed" and number == 2:
                    self.timeline.at(answered, lambda n=str(number), c=checker: self.dispute(trade, n, c))
                else:
                    self.timeline.at(answered, lambda n=str(number), c=checker: self.confirm(trade, n, c))
                    if number <= 2 and story in ("ended", "countered", "paused"):
                        self.timeline.at(answered + self.hours(2, 48), lambda t=teacher, lr=learner, tp=topic:
                                         self.endorse(lr, t, tp))
                moment += self.hours(6 * 24, 15 * 24)

    def dispute(self, trade: dict, number: str, by: DemoPeer) -> None:
        self.app.trades.dispute_session(trade["id"], number, "I think this is the session we moved to the "
                                        "following week: I only have it once in my calendar.", by=by.peer_id)

    def confirm(self, trade: dict, number: str, by: DemoPeer) -> None:
        self.app.trades.confirm_session(trade["id"], number, by=by.peer_id)
        self.summary.sessions += 1

    def today(self) -> date:
        return self.app.clock.now().date()

    # --- a trade circle of three ----------------------------------------------------------------
    def plan_circle(self, proposed: datetime) -> None:
        """Three peers where each teaches the next (the last the first); if no three peers' skills
        close such a loop, three from different departments whose wants are planned to close it."""
        ready = self.some([p for p in self.peers if p.offers and p.joined < proposed - timedelta(days=1)])
        loop = self.find_loop(ready)
        if loop is None:
            by_department = {p.department: p for p in ready}
            if len(by_department) < 3:
                return
            loop = self.rng.sample(sorted(by_department.values(), key=lambda p: p.email), 3)
        members = list(loop)
        skills = []
        for teacher, learner in zip(members, members[1:] + members[:1]):
            skill = next((s for s in teacher.offers if s in learner.wants), teacher.offers[0])
            if skill not in learner.wants:
                learner.wants.append(skill)
            skills.append(skill)
        trades, circle = self.app.trades, {}

        def propose() -> None:
            ids = [m.peer_id for m in members]
            circle["id"], _ = trades.propose_circle(ids, skills, by=ids[0])

        self.timeline.at(proposed, propose)
        self.timeline.at(proposed + self.hours(5, 30), lambda: trades.accept_circle(circle["id"],
                                                                                   by=members[1].peer_id))
        self.timeline.at(proposed + self.hours(31, 60), lambda: self.circle_formed(circle, members[2]))

    def circle_formed(self, circle: dict, last: DemoPeer) -> None:
        self.app.trades.accept_circle(circle["id"], by=last.peer_id)
        self.summary.circles += 1

    def find_loop(self, ready: list[DemoPeer]) -> tuple[DemoPeer, DemoPeer, DemoPeer] | None:
        """A teaches B, B teaches C, C teaches A (skills as planned), among peers not yet trading."""
        free = [p for p in ready if p.email not in self.trading]
        teaches = {p.email: [q for q in free if q is not p and set(p.offers) & set(q.wants)] for p in free}
        loops = [(a, b, c) for a in free for b in teaches[a.email] for c in teaches[b.email]
                 if c is not a and a in teaches[c.email]]
        return self.rng.choice(loops) if loops else None

    # --- mentoring ------------------------------------------------------------------------------
    def plan_mentoring(self) -> None:
        """Three mentors; four mentees paired (two thriving, one gone quiet for over three weeks, one
        ended with its goals met) and a fifth who applied recently and waits for a mentor."""
        started = self.when(0.08)
        mentors = self.pick_mentors(started)
        if len(mentors) < 2:
            return
        mentoring, ada, programme = self.app.mentoring, self.organizer, {}

        def start() -> None:
            programme["id"], _ = mentoring.start_programme(
                "Growing together",
                "Pairs a colleague who wants to grow in a skill with one who has done it for years. "
                "Meet every couple of weeks, and log each contact so we can see what helps.", by=ada.peer_id)

        self.timeline.at(started, start)
        for n, mentor in enumerate(mentors):
            languages = "English, Polish" if n == 1 else "English"
            self.timeline.at(started + timedelta(days=1 + n), lambda m=mentor, lang=languages:
                             mentoring.join_as_mentor(programme["id"], m.peer_id, m.offers, m.department,
                                                      lang, PROGRAMME_TZ, 2))
        taken = {m.email for m in mentors}
        plans = [("thriving", 0.15), ("quiet", 0.18), ("ended", 0.22), ("thriving", 0.4), ("waiting", 0.93)]
        for n, (how, fraction) in enumerate(plans):
            mentor = mentors[n % len(mentors)]
            applied = max(self.when(fraction), started + timedelta(days=len(mentors) + 1))
            mentee = self.pick_mentee(mentor, applied, taken)
            if mentee is None:
                continue
            taken.add(mentee.email)
            self.plan_mentee(programme, mentor, mentee, applied, how)

    def pick_mentors(self, before: datetime) -> list[DemoPeer]:
        seasoned = [p for p in self.peers if len(p.offers) >= 2 and p.joined < before - timedelta(days=1)]
        mentors: list[DemoPeer] = []
        for peer in sorted(seasoned, key=lambda p: (-len(p.offers), p.email)):
            if peer.department not in {m.department for m in mentors}:
                mentors.append(peer)
        return mentors[:3]

    def pick_mentee(self, mentor: DemoPeer, before: datetime, taken: set[str]) -> DemoPeer | None:
        free = [p for p in self.peers if p.email not in taken and p.joined < before - timedelta(days=1)]
        keen = [p for p in free if set(p.wants) & set(mentor.offers)]
        if keen:
            return self.rng.choice(keen)
        if not free:
            return None
        mentee = self.rng.choice(free)
        mentee.wants.append(mentor.offers[0])  # planned before anyone registers
        return mentee

    def plan_mentee(self, programme: dict, mentor: DemoPeer, mentee: DemoPeer, applied: datetime,
                    how: str) -> None:
        mentoring, ada = self.app.mentoring, self.organizer
        needs = [s for s in mentee.wants if s in mentor.offers]
        needs += [s for s in mentee.wants if s not in needs][:1]
        goals = (f"Get confident with {needs[0]} so I can use it on my own engagements, "
                 f"and learn how {mentor.department} approaches it.")
        self.timeline.at(applied, lambda: mentoring.apply(programme["id"], mentee.peer_id, goals, needs,
                                                           mentee.department, "English", PROGRAMME_TZ))
        if how == "waiting":
            return
        paired, pair = applied + self.hours(30, 110), {}

        def confirm_pair() -> None:
            pair["id"], _ = mentoring.pair(programme["id"], mentor.peer_id, mentee.peer_id, by=ada.peer_id)
            self.summary.mentorships += 1

        self.timeline.at(paired, confirm_pair)
        last = {"quiet": self.now - timedelta(days=self.rng.uniform(26, 32)),
                "ended": self.when(0.85)}.get(how, self.now)
        moment = paired + self.hours(20, 72)
        while moment < last:
            kind = self.rng.choices(("call", "email", "document review"), weights=(6, 2, 2))[0]
            minutes = {"call": self.rng.choice((30, 45, 60)), "email": self.rng.choice((5, 10, 15)),
                       "document review": self.rng.choice((20, 30, 45))}[kind]
            note = self.rng.choice(CONTACT_NOTES[kind])
            by = self.rng.choice((mentor, mentee, mentee))
            self.timeline.at(moment, lambda k=kind, m=minutes, nt=note, b=by: self.contact(pair, m, k, nt, b))
            moment += self.hours(7 * 24, 15 * 24)
        if how == "ended":
            self.timeline.at(last + self.hours(2, 30), lambda: mentoring.end(
                pair["id"], "goals met", f"{mentee.name.split()[0]} now leads the {needs[0]} work on the "
                f"team's engagements; we will keep meeting informally.", by=mentor.peer_id))

    def contact(self, pair: dict, minutes: int, kind: str, note: str, by: DemoPeer) -> None:
        self.app.mentoring.log_contact(pair["id"], self.today(), minutes, kind, note, by=by.peer_id)
        self.summary.contacts += 1

    # --- the directory: endorsements and an alias merge ------------------------------------------
    def endorse(self, endorser: DemoPeer, endorsee: DemoPeer, skill: str) -> None:
        """``endorser`` vouches for what they learned (once per pair; eligibility reads the graph)."""
        if (endorser.email, endorsee.email) in self.endorsed or len(self.endorsed) >= 6:
            return
        self.endorsed.add((endorser.email, endorsee.email))
        self.app.projector.catch_up()
        self.app.directory.endorse(endorser.peer_id, endorsee.peer_id, skill, self.rng.choice(ENDORSEMENTS))
        self.summary.endorsements += 1

    def endorse_a_speaker(self) -> None:
        by_id = {p.peer_id: p for p in self.seeder.peers}
        choices = [(by_id[a], speaker, topics[0]) for speaker, topics, came in self.seeder.held
                   for a in came if a in by_id and by_id[a] is not self.organizer]
        if choices:
            self.endorse(*self.rng.choice(choices))

    def plan_alias(self) -> None:
        """Two IT people name one skill two ways ("Kubernetes", "k8s"), someone wants it, and the
        organizer merges "k8s" into "Kubernetes" a couple of weeks ago."""
        it = sorted(self.peers, key=lambda p: (p.department != "IT", p.joined))
        if len(it) < 3:
            return
        people, ada = self.app.people, self.organizer
        for peer, name in ((it[0], "Kubernetes"), (it[1], "k8s")):
            self.timeline.at(peer.joined + timedelta(days=2), lambda p=peer, n=name: people.offer_skill(
                p.peer_id, n, by=p.peer_id))
        keen = next(p for p in self.peers if p.department != "IT" and p not in it[:2])
        self.timeline.at(max(keen.joined, it[1].joined) + timedelta(days=3), lambda: people.want_skill(
            keen.peer_id, "Kubernetes", by=keen.peer_id))

        def merge() -> None:
            self.app.directory.merge_alias("k8s", "Kubernetes", by=ada.peer_id)
            self.summary.aliases += 1

        self.timeline.at(self.when(0.8), merge)
