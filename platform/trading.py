"""Trades of expertise and the mentoring programme: use-case services and matching.

Matching works on an inverted index (skill -> who offers it, skill -> who wants it), so a
suggestion query touches only the peers who share a skill with the asker, never every pair.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from eventsourcing.application import AggregateNotFoundError

from commonroom.domain.errors import NotAllowed, NotFound
from commonroom.domain.mentoring import MentoringProgramme, Mentorship, validate_application, validate_mentor
from commonroom.domain.peer import Peer
from commonroom.domain.trade import Trade, TradeCircle, TradingProfile, trading_profile_id
from commonroom.platform.services import PeopleService, Service
from commonroom.projections import trades as trades_view
from commonroom.projections.base import Tracking
from commonroom.projections.people import PeerRow, PeerSkillRow


# --- trades ---------------------------------------------------------------------------------------
class TradeService(Service):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.people = PeopleService(self.store, self.clock, self.locks, self.stats)

    def propose(self, proposer_id: UUID, partner_id: UUID, offer: object, want: object,
                message: object = "") -> tuple[UUID, int]:
        trade = Trade.propose(proposer_id, partner_id, offer, want, message)
        for peer_id in (proposer_id, partner_id):
            self.get(peer_id, Peer, "peer").check_active()
        return trade.id, self.run([trade.id], lambda: self.save(trade))

    def counter(self, trade_id: UUID, want: object, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.counter(want, by=by))

    def accept(self, trade_id: UUID, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.accept(by=by))

    def decline(self, trade_id: UUID, reason: object, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.decline(reason, by=by))

    def withdraw(self, trade_id: UUID, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.withdraw(by=by))

    def pause(self, trade_id: UUID, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.pause(by=by))

    def resume(self, trade_id: UUID, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.resume(by=by))

    def end(self, trade_id: UUID, reflection: object, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.end(reflection, by=by))

    def reflect(self, trade_id: UUID, reflection: object, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.reflect(reflection, by=by))

    def add_note(self, trade_id: UUID, text: object, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.add_note(text, by=by))

    def log_session(self, trade_id: UUID, teacher_id: UUID, topic: object, on: object, minutes: object,
                    by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.log_session(teacher_id, topic, on, minutes, by=by))

    def confirm_session(self, trade_id: UUID, number: str, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.confirm_session(number, by=by))

    def dispute_session(self, trade_id: UUID, number: str, reason: object, by: UUID) -> int:
        return self._on_trade(trade_id, lambda t: t.dispute_session(number, reason, by=by))

    def correct_session(self, trade_id: UUID, number: str, teacher_id: UUID, topic: object, on: object,
                        minutes: object, by: UUID) -> int:
        return self._on_trade(
            trade_id, lambda t: t.correct_session(number, teacher_id, topic, on, minutes, by=by))

    def _on_trade(self, trade_id: UUID, change: Callable[[Trade], None]) -> int:
        def command() -> int:
            trade = self.get(trade_id, Trade, "trade")
            change(trade)
            return self.save(trade)

        return self.run([trade_id], command)

    # --- profile and circles ----------------------------------------------------------------------
    def update_profile(self, peer_id: UUID, current: object, desired: object, opted_out: bool,
                       max_active_trades: object) -> int:
        profile_id = trading_profile_id(peer_id)

        def command() -> int:
            try:
                profile = self.store.repository.get(profile_id)
            except AggregateNotFoundError:
                profile = TradingProfile(peer_id=peer_id, by=peer_id)
            profile.state_positions(current, desired, by=peer_id)
            profile.set_max_active_trades(max_active_trades, by=peer_id)
            profile.set_opted_out(opted_out, by=peer_id)
            return self.save(profile)

        return self.run([profile_id], command)

    def propose_circle(self, members: list[UUID], skills: list[str], by: UUID) -> tuple[UUID, int]:
        circle = TradeCircle.propose(members, skills, by=by)
        circle.accept(by=by)
        return circle.id, self.run([circle.id], lambda: self.save(circle))

    def accept_circle(self, circle_id: UUID, by: UUID) -> int:
        return self._on_circle(circle_id, lambda c: c.accept(by=by))

    def decline_circle(self, circle_id: UUID, reason: object, by: UUID) -> int:
        return self._on_circle(circle_id, lambda c: c.decline(reason, by=by))

    def _on_circle(self, circle_id: UUID, change: Callable[[TradeCircle], None]) -> int:
        def command() -> int:
            circle = self.get(circle_id, TradeCircle, "circle")
            change(circle)
            return self.save(circle)

        return self.run([circle_id], command)


# --- matching -------------------------------------------------------------------------------------
@dataclass
class Candidate:
    """One peer as matching sees them (skills lower-cased)."""

    peer_id: str
    name: str = ""
    offers: set[str] = field(default_factory=set)
    wants: set[str] = field(default_factory=set)
    desired_position: str = ""
    opted_out: bool = False
    max_active: int = 3
    active_trades: int = 0
    balance: int = 0  # confirmed minutes given minus received

    @property
    def available(self) -> bool:
        return not self.opted_out and self.active_trades < self.max_active

    def rivals(self, other: "Candidate") -> bool:
        """Both after the same desired position: never suggest them to each other."""
        mine = self.desired_position.strip().lower()
        return bool(mine) and mine == other.desired_position.strip().lower()


@dataclass(frozen=True)
class Suggestion:
    peer_id: str
    name: str
    they_teach: list[str]
    you_teach: list[str]
    score: float
    reason: str


@dataclass(frozen=True)
class Circle:
    members: list[str]  # members[i] teaches skills[i] to members[i + 1], the last to the first
    names: list[str]
    skills: list[str]
    reason: str


class SkillIndex:
    def __init__(self, candidates: Iterable[Candidate], labels: dict[str, str] | None = None) -> None:
        self.peers: dict[str, Candidate] = {}
        self.offerers: dict[str, set[str]] = defaultdict(set)
        self.wanters: dict[str, set[str]] = defaultdict(set)
        self.labels = labels or {}
        for candidate in candidates:
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        self.peers[candidate.peer_id] = candidate
        for skill in candidate.offers:
            self.offerers[skill].add(candidate.peer_id)
        for skill in candidate.wants:
            self.wanters[skill].add(candidate.peer_id)

    def label(self, skill: str) -> str:
        return self.labels.get(skill, skill)

    def teachers_of(self, peer: Candidate) -> set[str]:
        return set().union(*(self.offerers.get(s, ()) for s in peer.wants)) - {peer.peer_id}

    def learners_of(self, peer: Candidate) -> set[str]:
        return set().union(*(self.wanters.get(s, ()) for s in peer.offers)) - {peer.peer_id}

    def teaches(self, teacher: Candidate, learner: Candidate) -> list[str]:
        return sorted(teacher.offers & learner.wants)


def suggest(index: SkillIndex, peer_id: str, limit: int = 10,
            exclude: set[str] | None = None) -> list[Suggestion]:
    """Reciprocal partners for ``peer_id``: they offer what you want and want what you offer."""
    me = index.peers.get(str(peer_id))
    if me is None:
        return []
    exclude = exclude or set()
    found: list[Suggestion] = []
    for other_id in index.teachers_of(me) & index.learners_of(me):
        other = index.peers[other_id]
        if other_id in exclude or not other.available or me.rivals(other):
            continue
        they_teach, you_teach = index.teaches(other, me), index.teaches(me, other)
        # skills dominate; a balanced partner (|given - received| small) and spare capacity break ties
        balance_bonus = 1 / (1 + abs(other.balance) / 60)
        spare = (other.max_active - other.active_trades) / max(other.max_active, 1)
        score = len(they_teach) + len(you_teach) + 0.5 * balance_bonus + 0.25 * spare
        found.append(Suggestion(other_id, other.name, [index.label(s) for s in they_teach],
                                [index.label(s) for s in you_teach], round(score, 3),
                                _explain(index, other, they_teach, you_teach)))
    found.sort(key=lambda s: (-s.score, s.name, s.peer_id))
    return found[:limit]


def _explain(index: SkillIndex, other: Candidate, they_teach: list[str], you_teach: list[str]) -> str:
    who = other.name or "they"
    balance = ("their exchanges are balanced" if abs(other.balance) < 60 else
               f"they have given {other.balance} minutes more than received" if other.balance > 0 else
               f"they have received {-other.balance} minutes more than given")
    return (f"{who} can teach you {', '.join(index.label(s) for s in they_teach)}; "
            f"you can teach them {', '.join(index.label(s) for s in you_teach)}; {balance}; "
            f"{other.active_trades} of {other.max_active} active trades.")


def find_circles(index: SkillIndex, peer_id: str, limit: int = 5, branch: int = 40) -> list[Circle]:
    """Short cycles through ``peer_id`` (3 then 4 peers): A teaches B, B teaches C, C teaches A.

    ``branch`` caps how many learners are followed at each step, so the search stays bounded
    however popular a skill is.
    """
    me = index.peers.get(str(peer_id))
    if me is None or not me.available:
        return []
    my_teachers = index.teachers_of(me)
    circles: list[Circle] = []
    seen: set[frozenset[str]] = set()

    def ok(candidate: Candidate, path: list[Candidate]) -> bool:
        return (candidate.peer_id not in {p.peer_id for p in path} and candidate.available
                and not any(candidate.rivals(p) for p in path))

    def learners(peer: Candidate, path: list[Candidate]) -> list[Candidate]:
        chosen = [index.peers[i] for i in sorted(index.learners_of(peer))]
        return [c for c in chosen if ok(c, path)][:branch]

    def close(path: list[Candidate]) -> None:
        key = frozenset(p.peer_id for p in path)
        if key in seen:
            return
        seen.add(key)
        skills = [index.teaches(a, b)[0] for a, b in zip(path, path[1:] + path[:1])]
        circles.append(Circle([p.peer_id for p in path], [p.name for p in path],
                              [index.label(s) for s in skills],
                              " → ".join(f"{p.name} teaches {index.label(s)}" for p, s in zip(path, skills))))

    for size in (3, 4):
        for b in learners(me, [me]):
            for c in learners(b, [me, b]):
                if size == 3:
                    if c.peer_id in my_teachers:
                        close([me, b, c])
                else:
                    for d in learners(c, [me, b, c]):
                        if d.peer_id in my_teachers:
                            close([me, b, c, d])
                if len(circles) >= limit:
                    return circles
    return circles


def load_index(engine: sa.Engine, skills: Iterable[str] | None = None) -> SkillIndex:
    """Build the index from the read models; ``skills`` limits it to peers sharing those skills."""
    query = sa.select(PeerSkillRow.peer_id, PeerSkillRow.kind, PeerSkillRow.skill)
    with engine.connect() as c:
        if skills is not None:
            lowered = sorted({s.lower() for s in skills})
            holders = sa.select(PeerSkillRow.peer_id).where(sa.func.lower(PeerSkillRow.skill).in_(lowered))
            query = query.where(PeerSkillRow.peer_id.in_(holders))
        rows = c.execute(query).all()
        ids = {r.peer_id for r in rows}
        people = dict(c.execute(sa.select(PeerRow.id, PeerRow.name).where(PeerRow.active.is_(True))).all())
        profiles = {p.peer_id: p for p in c.execute(sa.select(trades_view.TradingProfileRow)).all()}
    counts, balance = trades_view.active_trade_counts(engine), trades_view.balances(engine)
    candidates: dict[str, Candidate] = {}
    labels: dict[str, str] = {}
    for peer_id in ids & people.keys():
        profile = profiles.get(peer_id)
        candidates[peer_id] = Candidate(
            peer_id, people[peer_id], desired_position=profile.desired_position if profile else "",
            opted_out=profile.opted_out if profile else False,
            max_active=profile.max_active_trades if profile else 3,
            active_trades=counts.get(peer_id, 0), balance=balance.get(peer_id, 0))
    for peer_id, kind, skill in rows:
        if peer_id in candidates:
            key = skill.lower()
            labels.setdefault(key, skill)
            (candidates[peer_id].offers if kind == "offer" else candidates[peer_id].wants).add(key)
    return SkillIndex(candidates.values(), labels)


def suggestions_for(engine: sa.Engine, peer_id: UUID, limit: int = 10) -> list[Suggestion]:
    with engine.connect() as c:
        mine = list(c.scalars(sa.select(PeerSkillRow.skill).where(PeerSkillRow.peer_id == str(peer_id))))
    if not mine:
        return []
    index = load_index(engine, mine)
    partners = {r.partner_id if r.proposer_id == str(peer_id) else r.proposer_id
                for r in trades_view.trades_of(engine, peer_id)
                if r.status in ("proposed", "active", "paused")}
    return suggest(index, str(peer_id), limit, exclude=partners)


_index_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> (version, index)
_index_lock = threading.Lock()


def cached_index(engine: sa.Engine) -> SkillIndex:
    """The full index, rebuilt only when the people or trades read models have moved on."""
    with engine.connect() as c:
        version = tuple(c.execute(
            sa.select(Tracking.name, Tracking.position)
            .where(Tracking.name.in_(["people", "trades"])).order_by(Tracking.name)).all())
    with _index_lock:
        cached = _index_cache.get(engine)
        if cached is not None and cached[0] == version:
            return cached[1]
    index = load_index(engine)
    with _index_lock:
        _index_cache[engine] = (version, index)
    return index


def circles_for(engine: sa.Engine, peer_id: UUID, limit: int = 5) -> list[Circle]:
    return find_circles(cached_index(engine), str(peer_id), limit)


# --- mentoring ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MentorMatch:
    mentor_id: str
    name: str
    score: int
    reasons: list[str]


def utc_offset_hours(tz: str) -> float:
    from datetime import datetime

    offset = datetime.now(ZoneInfo(tz)).utcoffset()
    return offset.total_seconds() / 3600 if offset else 0.0


def rank_mentors(application: dict, mentors: dict[str, dict], load: dict[str, int],
                 names: dict[str, str] | None = None) -> list[MentorMatch]:
    """Mentors by compatibility: shared skills, language, time zone, background; full mentors drop out."""
    names = names or {}
    needs = {n.lower() for n in application["needs"]}
    languages = {lang.lower() for lang in application["languages"]}
    matches = []
    for mentor_id, mentor in mentors.items():
        if load.get(mentor_id, 0) >= mentor["capacity"]:
            continue
        reasons, score = [], 0
        skills = sorted(needs & {s.lower() for s in mentor["skills"]})
        if skills:
            score += 3 * len(skills)
            reasons.append("skills: " + ", ".join(skills))
        shared = sorted(languages & {lang.lower() for lang in mentor["languages"]})
        if not shared:
            continue  # no common language: not a workable pairing
        score += 2
        reasons.append("speaks " + ", ".join(shared))
        gap = abs(utc_offset_hours(mentor["timezone"]) - utc_offset_hours(application["timezone"]))
        if gap <= 3:
            score += 2 if gap <= 1 else 1
            reasons.append(f"time zones {gap:g}h apart")
        if mentor["background"] and mentor["background"].lower() == application["background"].lower():
            score += 1
            reasons.append(f"same background ({mentor['background']})")
        free = mentor["capacity"] - load.get(mentor_id, 0)
        reasons.append(f"{free} place{'s' if free != 1 else ''} free")
        if skills:
            matches.append(MentorMatch(mentor_id, names.get(mentor_id, ""), score, reasons))
    matches.sort(key=lambda m: (-m.score, m.name, m.mentor_id))
    return matches


def mentor_proposals(members: list, pairs: list, mentee_id: str, names: dict[str, str]) -> list[MentorMatch]:
    """``rank_mentors`` over the mentoring read model's rows (pages never load the programme)."""
    def profile(row) -> dict:
        return dict(skills=json.loads(row.skills), needs=json.loads(row.skills),
                    languages=json.loads(row.languages),
                    background=row.background, timezone=row.timezone, capacity=row.capacity)

    applicant = next((m for m in members if m.peer_id == str(mentee_id) and m.role == "mentee"), None)
    if applicant is None:
        return []
    mentors = {m.peer_id: profile(m) for m in members if m.role == "mentor"}
    load: dict[str, int] = defaultdict(int)
    for pair in pairs:
        if pair.active:
            load[pair.mentor_id] += 1
    return rank_mentors(profile(applicant), mentors, load, names)


class MentoringService(Service):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.people = PeopleService(self.store, self.clock, self.locks, self.stats)

    def start_programme(self, name: object, description: object, by: UUID) -> tuple[UUID, int]:
        self.check_organizer(by)
        programme = MentoringProgramme.start(name, description, by=by)
        return programme.id, self.run([programme.id], lambda: self.save(programme))

    def join_as_mentor(self, programme_id: UUID, peer_id: UUID, skills: object, background: object,
                       languages: object, timezone: object, capacity: object) -> int:
        profile = validate_mentor(skills, background, languages, timezone, capacity)
        return self._on_programme(programme_id, lambda p: p.join_as_mentor(peer_id, profile, by=peer_id))

    def apply(self, programme_id: UUID, peer_id: UUID, goals: object, needs: object, background: object,
              languages: object, timezone: object) -> int:
        application = validate_application(goals, needs, background, languages, timezone)
        return self._on_programme(programme_id, lambda p: p.apply(peer_id, application, by=peer_id))

    def proposals(self, programme_id: UUID, mentee_id: UUID,
                  names: dict[str, str] | None = None) -> list[MentorMatch]:
        programme = self.get(programme_id, MentoringProgramme, "programme")
        application = programme.applications.get(str(mentee_id))
        if application is None:
            raise NotFound("that person has not applied")
        return rank_mentors(application, programme.mentors, programme.load, names)

    def pair(self, programme_id: UUID, mentor_id: UUID, mentee_id: UUID, by: UUID) -> tuple[UUID, int]:
        self.check_organizer(by)
        mentorship_id = uuid4()

        def command() -> int:
            programme = self.get(programme_id, MentoringProgramme, "programme")
            programme.pair(mentor_id, mentee_id, mentorship_id, by=by)
            skills = {k.lower() for k in programme.mentors[str(mentor_id)]["skills"]}
            needs = programme.applications[str(mentee_id)]["needs"]
            mentorship = Mentorship(id=mentorship_id, programme_id=programme_id, mentor_id=mentor_id,
                                    mentee_id=mentee_id, started_on=self.today(),
                                    topics=[n for n in needs if n.lower() in skills] or needs, by=by)
            return self.save(programme, mentorship)

        return mentorship_id, self.run([programme_id], command)

    def log_contact(self, mentorship_id: UUID, on: object, minutes: object, kind: object, note: object,
                    by: UUID) -> int:
        return self._on_mentorship(mentorship_id, lambda m: m.log_contact(on, minutes, kind, note, by=by))

    def end(self, mentorship_id: UUID, outcome: object, summary: object, by: UUID) -> int:
        organizer = self.people.is_organizer(by)

        def command() -> int:
            mentorship = self.get(mentorship_id, Mentorship, "mentorship")
            mentorship.end(outcome, summary, by=by, by_organizer=organizer)
            programme = self.get(mentorship.programme_id, MentoringProgramme, "programme")
            programme.release(mentorship.mentor_id, mentorship.mentee_id, by=by)
            return self.save(mentorship, programme)

        return self.run([mentorship_id], command)

    def today(self) -> date:
        return self.clock.now().date()

    def check_organizer(self, by: UUID) -> None:
        if not self.people.is_organizer(by):
            raise NotAllowed("only organizers can do that")

    def _on_programme(self, programme_id: UUID, change: Callable[[MentoringProgramme], None]) -> int:
        def command() -> int:
            programme = self.get(programme_id, MentoringProgramme, "programme")
            change(programme)
            return self.save(programme)

        return self.run([programme_id], command)

    def _on_mentorship(self, mentorship_id: UUID, change: Callable[[Mentorship], None]) -> int:
        def command() -> int:
            mentorship = self.get(mentorship_id, Mentorship, "mentorship")
            change(mentorship)
            return self.save(mentorship)

        return self.run([mentorship_id], command)

