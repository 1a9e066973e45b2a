"""Who knows what: the directory's commands (alias merges, endorsements) and its read queries.

Every query takes ``at``: ``None`` for now, or an instant; the read models hold timestamped
facts, so "as of" is a WHERE clause (``holds``), never a replay. Scores decay from ``reference``
(the as-of moment, or now). Graph analytics (networkx) are computed once per graph-view position
and as-of moment and cached (``GraphAnalytics``).

What a query reads that depends only on the read models and ``at`` (people, skill names, the
overview, a skill's evidence and wanters, the graph) is cached per engine, keyed by the expertise
and graph views' tracking positions (``_cached``): one small query per call, and a view that moves
on makes the next call recompute, so a cached answer is never older than the views. Decay is
always computed afresh from ``reference``. Cached values are shared: callers must not change them
(the public functions hand out copies where a caller might).
"""

from __future__ import annotations

import difflib
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session
from eventsourcing.application import AggregateNotFoundError

from commonroom.domain.errors import InvalidValue, NotAllowed
from commonroom.domain.skills import CATALOG_ID, Endorsement, SkillCatalog, decayed, normalise_skill, resolve
from commonroom.platform.readcache import ReadCache
from commonroom.platform.services import PeopleService, Service
from commonroom.projections.base import Tracking
from commonroom.projections.expertise import (
    DECLARED, TALK_ATTENDED, EndorsementRow, EvidenceRow, SkillAliasRow, SeatChangeRow, SkillNameRow, TalkVersionRow,
    WantRow,
)
from commonroom.projections.graph import LearningEdgeRow, PeerVersionRow, utc
from commonroom.projections.people import PeerRow

KNOWN_KINDS_LABELS = {
    "declared": "offered on profile", "talk_given": "talk given", "talk_attended": "talk attended",
    "trade_taught": "taught in a trade", "endorsement": "endorsement",
}


# --- commands -------------------------------------------------------------------------------------
class DirectoryService(Service):
    def __init__(self, store, clock, locks, stats, engine: sa.Engine) -> None:
        super().__init__(store, clock, locks, stats)
        self.engine = engine
        self.people = PeopleService(store, clock, locks, stats)
        self.analytics = GraphAnalytics(engine)

    def merge_alias(self, alias: object, into: object, by: UUID) -> int:
        """An organizer says ``alias`` (k8s) is another name for ``into`` (Kubernetes)."""
        if not self.people.is_organizer(by):
            raise NotAllowed("only organizers can merge skill names")

        def command() -> int:
            try:
                catalog = self.store.repository.get(CATALOG_ID)
            except AggregateNotFoundError:
                catalog = SkillCatalog(by=by)
            catalog.merge_alias(alias, into, by=by)
            return self.save(catalog)

        return self.run([CATALOG_ID], command)

    def endorse(self, endorser_id: UUID, endorsee_id: UUID, skill: object, sentence: object = "") -> int:
        """Vouch for one skill of someone you learned from (their talk, or a trade with them)."""
        skill, sentence = Endorsement.validate(endorser_id, endorsee_id, skill, sentence)
        if not can_endorse(self.engine, endorser_id, endorsee_id):
            raise NotAllowed("you can endorse someone whose talk you attended or with whom you traded")
        endorsement_id = Endorsement.create_id(endorser_id, endorsee_id)

        def command() -> int:
            try:
                endorsement = self.store.repository.get(endorsement_id)
                endorsement.revise(skill, sentence, by=endorser_id)
            except AggregateNotFoundError:
                endorsement = Endorsement(endorser_id=endorser_id, endorsee_id=endorsee_id, skill=skill,
                                          sentence=sentence, by=endorser_id)
            return self.save(endorsement)

        return self.run([endorsement_id], command)

    def withdraw_endorsement(self, endorser_id: UUID, endorsee_id: UUID) -> int:
        endorsement_id = Endorsement.create_id(endorser_id, endorsee_id)

        def command() -> int:
            endorsement = self.get(endorsement_id, Endorsement, "endorsement")
            endorsement.withdraw(by=endorser_id)
            return self.save(endorsement)

        return self.run([endorsement_id], command)


def can_endorse(engine: sa.Engine, endorser_id: UUID | str, endorsee_id: UUID | str) -> bool:
    """Eligible once the endorser learned from the endorsee: attended their talk, traded with them."""
    if str(endorser_id) == str(endorsee_id):
        return False
    query = sa.select(LearningEdgeRow.id).where(
        LearningEdgeRow.teacher_id == str(endorsee_id), LearningEdgeRow.learner_id == str(endorser_id),
        LearningEdgeRow.valid_to.is_(None)).limit(1)
    with Session(engine) as c:
        return c.execute(query).first() is not None


# --- the cache: per engine, keyed by the views' positions -------------------------------------------
_CACHES: weakref.WeakKeyDictionary[sa.Engine, ReadCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()
_VIEWS = ("expertise", "graph")


_POSITIONS = sa.select(Tracking.name, Tracking.position).where(Tracking.name.in_(_VIEWS))
# Positions read once for a whole page (``one_reading``): engine -> positions.
_READING: ContextVar[dict[sa.Engine, tuple[int, ...]] | None] = ContextVar("directory_reading", default=None)


def _positions(engine: sa.Engine) -> tuple[int, ...]:
    reading = _READING.get()
    if reading is not None and engine in reading:
        return reading[engine]
    with engine.connect() as c:
        found = dict(c.execute(_POSITIONS).all())
    positions = tuple(found.get(name, 0) for name in _VIEWS)
    if reading is not None:
        reading[engine] = positions
    return positions


@contextmanager
def one_reading():
    """Within the block, the views' positions are read once: a page that ranks, lists wanters,
    the overview and the departments makes one positions query instead of one per part, and
    every part of it is keyed by the same positions. Per request (a context variable), so the
    next request, after a command, reads them again."""
    token = _READING.set({})
    try:
        yield
    finally:
        _READING.reset(token)


def _cached(engine: sa.Engine, key: Hashable, compute: Callable[[], object]):
    """``compute()``, or what it returned for ``key`` while the views stood where they stand now."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = ReadCache(maxsize=512)
    return cache.get_or_compute((key, _positions(engine)), compute)


# --- as of ----------------------------------------------------------------------------------------
def moment(as_of: date | None) -> datetime | None:
    """The last instant of an as-of day (UTC), or None for "now"."""
    return None if as_of is None else datetime.combine(as_of, time.max, tzinfo=timezone.utc)


def parse_as_of(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue("as_of", "as_of must be a date like 2026-03-31") from None


def holds(model, at: datetime | None):
    """The WHERE clause for facts that held at ``at`` (None: the facts that hold now)."""
    if at is None:
        return model.valid_to.is_(None)
    return sa.and_(model.valid_from <= at, sa.or_(model.valid_to.is_(None), model.valid_to > at))


@dataclass
class SkillNames:
    """Skill keys, their labels and the alias merges made by ``at``."""

    labels: dict[str, str]
    aliases: dict[str, str]

    def canonical(self, key: str) -> str:
        return resolve(key, self.aliases)

    def label(self, key: str) -> str:
        key = self.canonical(key)
        return self.labels.get(key, key)

    def keys_for(self, canonical: str) -> list[str]:
        """Every key that resolves to ``canonical`` (the key itself and its aliases)."""
        return sorted({k for k in set(self.labels) | set(self.aliases) if self.canonical(k) == canonical}
                      | {canonical})


def skill_names(c, at: datetime | None) -> SkillNames:
    names = sa.select(SkillNameRow.key, SkillNameRow.label)
    aliases = sa.select(SkillAliasRow.alias_key, SkillAliasRow.into_key)
    if at is not None:
        names, aliases = names.where(SkillNameRow.first_seen <= at), aliases.where(SkillAliasRow.merged_at <= at)
    return SkillNames(dict(c.execute(names).all()), dict(c.execute(aliases).all()))


def match_skills(names: SkillNames, query: str, limit: int = 6) -> list[str]:
    """Canonical skills whose name or alias equals, starts with, or closely resembles ``query``."""
    wanted = normalise_skill(query)
    if not wanted:
        return []
    keys = sorted(set(names.labels) | set(names.aliases))
    exact = [k for k in keys if k == wanted]
    prefix = [k for k in keys if k.startswith(wanted) or any(w.startswith(wanted) for w in k.split())]
    fuzzy = difflib.get_close_matches(wanted, keys, n=limit, cutoff=0.75)
    found: list[str] = []
    for key in exact + prefix + fuzzy:
        canonical = names.canonical(key)
        if canonical not in found:
            found.append(canonical)
    return found[:limit]


def _names(engine: sa.Engine, at: datetime | None) -> SkillNames:
    def compute() -> SkillNames:
        with Session(engine) as c:
            return skill_names(c, at)
    return _cached(engine, ("names", at), compute)


def find_skills(engine: sa.Engine, query: str, at: datetime | None = None) -> list[str]:
    return list(_cached(engine, ("find", query, at), lambda: match_skills(_names(engine, at), query)))


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    department: str
    active: bool


_PERSON = (PeerVersionRow.peer_id, PeerVersionRow.name, PeerVersionRow.department, PeerVersionRow.active)


def people_at(c, at: datetime | None) -> dict[str, Person]:
    rows = c.execute(sa.select(*_PERSON).where(holds(PeerVersionRow, at)))
    return {r[0]: Person(*r) for r in rows}


def earliest_people(c) -> dict[str, Person]:
    """Each peer as first registered (for endpoints of facts older than their registration)."""
    people: dict[str, Person] = {}
    for r in c.execute(sa.select(*_PERSON).order_by(PeerVersionRow.valid_from)):
        people.setdefault(r[0], Person(*r))
    return people


def _people(engine: sa.Engine, at: datetime | None) -> dict[str, Person]:
    """``people_at`` through the cache (shared: do not change it)."""
    def compute() -> dict[str, Person]:
        with Session(engine) as c:
            return people_at(c, at)
    return _cached(engine, ("people", at), compute)


# --- ranking ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    kind: str
    detail: str
    source_type: str
    source_id: str
    weight: float
    evidence_at: datetime
    contribution: float

    @property
    def kind_label(self) -> str:
        return KNOWN_KINDS_LABELS.get(self.kind, self.kind)


@dataclass
class Ranked:
    person: Person
    skill: str
    score: float = 0.0
    items: list[Item] = field(default_factory=list)


def _items(rows, reference: datetime) -> list[tuple[EvidenceRow, Item]]:
    out = []
    for r in rows:
        at = utc(r.evidence_at)
        out.append((r, Item(r.kind, r.detail, r.source_type, r.source_id, r.weight, at,
                            decayed(r.weight, at, reference))))
    return out


_ITEM = (EvidenceRow.peer_id, EvidenceRow.skill_key, EvidenceRow.kind, EvidenceRow.detail,
         EvidenceRow.source_type, EvidenceRow.source_id, EvidenceRow.weight, EvidenceRow.evidence_at)


def _evidence(engine: sa.Engine, keys: list[str], at: datetime | None) -> list:
    """The evidence for these skill keys that held at ``at``, oldest first (through the cache)."""
    def compute() -> list:
        with engine.connect() as c:
            return c.execute(sa.select(*_ITEM).where(EvidenceRow.skill_key.in_(keys), holds(EvidenceRow, at))
                             .order_by(EvidenceRow.id)).all()
    return _cached(engine, ("evidence", tuple(keys), at), compute)


def rank(engine: sa.Engine, skill: str, at: datetime | None = None, department: str | None = None,
         reference: datetime | None = None) -> list[Ranked]:
    """People who know ``skill`` (a canonical key) best first, each with the evidence why.

    Cached like the evidence it is computed from (by the views' positions) and by the moment the
    evidence decays to: ``reference``, else ``at``, else the current minute (with a half-life of
    180 days, a minute of decay moves a score by under three millionths of itself). A popular
    search is ranked once a minute per process rather than on every request, never from stale
    views."""
    reference = reference or at or datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return list(_cached(engine, ("rank", skill, at, department, reference),
                        lambda: _rank(engine, skill, at, department, reference)))


def _rank(engine: sa.Engine, skill: str, at: datetime | None, department: str | None,
          reference: datetime) -> list[Ranked]:
    names = _names(engine, at)
    rows = _evidence(engine, names.keys_for(names.canonical(skill)), at)
    people = _people(engine, at)
    ranked: dict[str, Ranked] = {}
    for row, item in _items(rows, reference):
        person = people.get(row.peer_id)
        if person is None or not person.active or (department and person.department != department):
            continue
        entry = ranked.setdefault(row.peer_id, Ranked(person, names.label(skill)))
        entry.items.append(item)
        entry.score += item.contribution
    for entry in ranked.values():
        entry.items.sort(key=lambda i: -i.contribution)
    return sorted(ranked.values(), key=lambda r: (-round(r.score, 6), r.person.name))


def wanters(engine: sa.Engine, skill: str, at: datetime | None = None, department: str | None = None) -> list[Person]:
    def compute() -> list[Person]:
        names = _names(engine, at)
        keys = names.keys_for(names.canonical(skill))
        with engine.connect() as c:
            found = set(c.execute(sa.select(WantRow.peer_id).where(
                WantRow.skill_key.in_(keys), holds(WantRow, at))).scalars())
        people = _people(engine, at)
        return sorted((people[p] for p in found if p in people and people[p].active
                       and (not department or people[p].department == department)), key=lambda p: p.name)
    return list(_cached(engine, ("wanters", skill, at, department), compute))


@dataclass(frozen=True)
class SkillDemand:
    key: str
    label: str
    knowers: int
    offerers: int
    wanters: int


def skill_overview(engine: sa.Engine, at: datetime | None = None) -> list[SkillDemand]:
    """Every skill with how many know it (any evidence), offer it and want to learn it."""
    return list(_cached(engine, ("overview", at), lambda: _skill_overview(engine, at)))


def _skill_overview(engine: sa.Engine, at: datetime | None) -> list[SkillDemand]:
    names, people = _names(engine, at), _people(engine, at)
    with engine.connect() as c:
        evidence = c.execute(sa.select(EvidenceRow.peer_id, EvidenceRow.skill_key, EvidenceRow.kind)
                             .where(holds(EvidenceRow, at))).all()
        wants = c.execute(sa.select(WantRow.peer_id, WantRow.skill_key).where(holds(WantRow, at))).all()
    know, offer, want = defaultdict(set), defaultdict(set), defaultdict(set)
    for peer, key, kind in evidence:
        if peer in people and people[peer].active and kind != TALK_ATTENDED:
            know[names.canonical(key)].add(peer)
            if kind == DECLARED:
                offer[names.canonical(key)].add(peer)
    for peer, key in wants:
        if peer in people and people[peer].active:
            want[names.canonical(key)].add(peer)
    keys = set(know) | set(want)
    return sorted((SkillDemand(k, names.label(k), len(know[k]), len(offer[k]), len(want[k])) for k in keys),
                  key=lambda d: (-d.knowers - d.wanters, d.label.casefold()))


def talk_ideas(overview: list[SkillDemand], min_wanters: int = 2) -> list[SkillDemand]:
    """Skills many want to learn but nobody offers: ideas for the programme."""
    return sorted((d for d in overview if d.wanters >= min_wanters and d.offerers == 0),
                  key=lambda d: (-d.wanters, d.label.casefold()))


def departments(engine: sa.Engine, at: datetime | None = None) -> list[str]:
    """The active people's departments (through the cache: shared, do not change it)."""
    return _cached(engine, ("departments", at),
                   lambda: sorted({p.department for p in _people(engine, at).values() if p.active}))


# --- schedule and profiles as of ------------------------------------------------------------------
@dataclass(frozen=True)
class TalkThen:
    """A talk as it stood at a moment: its version and its seats then."""

    talk_id: str
    speaker_id: str
    title: str
    topics: str
    status: str
    day: date | None
    room_id: str | None
    starts_at: datetime | None
    capacity: int
    confirmed: int
    waitlisted: int


TALK_THEN_VERSION = ("talk_id", "speaker_id", "title", "topics", "status", "day", "room_id", "starts_at", "capacity")


def talks_as_of(engine: sa.Engine, at: datetime | None) -> list[TalkThen]:
    """Every talk as it stood at ``at`` (title, status, day, seats), soonest first.

    For ``/programme?as_of=``: ``talks_as_of(engine, moment(as_of_date))``.
    """
    seats = sa.select(SeatChangeRow.talk_id, sa.func.sum(SeatChangeRow.confirmed).label("confirmed"),
                      sa.func.sum(SeatChangeRow.waitlisted).label("waitlisted")).group_by(SeatChangeRow.talk_id)
    if at is not None:
        seats = seats.where(SeatChangeRow.recorded_at <= at)
    seats = seats.subquery()
    version = TalkVersionRow.__table__.c
    query = sa.select(*(version[name] for name in TALK_THEN_VERSION),
                      sa.func.coalesce(seats.c.confirmed, 0), sa.func.coalesce(seats.c.waitlisted, 0)).outerjoin(
        seats, seats.c.talk_id == version.talk_id).where(holds(TalkVersionRow, at)).order_by(
        version.starts_at.is_(None), version.starts_at, version.title)
    with engine.connect() as c:
        return [TalkThen(*row) for row in c.execute(query)]


@dataclass
class Profile:
    person: Person
    offers: list[str]
    wants: list[str]
    skills: list[Ranked]
    talks_given: list[TalkVersionRow]
    talks_attended: list[TalkVersionRow]
    endorsements_received: list[tuple[EndorsementRow, Person | None]]
    endorsements_given: list[tuple[EndorsementRow, Person | None]]


def profile(engine: sa.Engine, peer_id: str, at: datetime | None = None,
            reference: datetime | None = None) -> Profile | None:
    reference = reference or at or datetime.now(timezone.utc)
    with Session(engine) as c:
        people = people_at(c, at)
        person = people.get(peer_id)
        if person is None:
            return None
        names = skill_names(c, at)
        evidence = c.execute(sa.select(EvidenceRow).where(EvidenceRow.peer_id == peer_id, holds(EvidenceRow, at))
                             .order_by(EvidenceRow.id)).scalars().all()
        wants = c.execute(sa.select(WantRow.skill).where(WantRow.peer_id == peer_id, holds(WantRow, at))
                          .order_by(WantRow.id)).scalars().all()
        talks = {t.talk_id: t for t in c.execute(sa.select(TalkVersionRow).where(holds(TalkVersionRow, at))).scalars()}
        endorsements = c.execute(sa.select(EndorsementRow).where(
            sa.or_(EndorsementRow.endorser_id == peer_id, EndorsementRow.endorsee_id == peer_id),
            holds(EndorsementRow, at)).order_by(EndorsementRow.id)).scalars().all()
    skills: dict[str, Ranked] = {}
    for row, item in _items(evidence, reference):
        key = names.canonical(row.skill_key)
        entry = skills.setdefault(key, Ranked(person, names.label(key)))
        entry.items.append(item)
        entry.score += item.contribution
    attended = {r.source_id for r in evidence if r.kind == TALK_ATTENDED}
    return Profile(
        person=person,
        offers=[r.skill for r in evidence if r.kind == DECLARED],
        wants=list(wants),
        skills=sorted(skills.values(), key=lambda r: (-round(r.score, 6), r.skill)),
        talks_given=sorted((t for t in talks.values() if t.speaker_id == peer_id),
                           key=lambda t: (t.starts_at is None, t.starts_at or datetime.min, t.title)),
        talks_attended=[talks[t] for t in sorted(attended) if t in talks],
        endorsements_received=[(e, people.get(e.endorser_id)) for e in endorsements if e.endorsee_id == peer_id],
        endorsements_given=[(e, people.get(e.endorsee_id)) for e in endorsements if e.endorser_id == peer_id],
    )


# --- audit trail ----------------------------------------------------------------------------------
HIDDEN_FIELDS = {"password_hash", "originator_topic", "originator_id", "originator_version", "timestamp", "by"}


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    what: str
    at: datetime
    by_id: str
    by_name: str
    details: dict
    stream: str


def history(store, engine: sa.Engine, aggregate_id: UUID) -> list[HistoryEntry]:
    """Every event of one aggregate in order: what happened, who did it (by name), when."""
    events = list(store.events.get(aggregate_id))
    actors = {str(e.by) for e in events if hasattr(e, "by")}
    with Session(engine) as c:
        names = dict(c.execute(sa.select(PeerRow.id, PeerRow.name).where(PeerRow.id.in_(actors))).all())
    entries = []
    for e in events:
        by = str(getattr(e, "by", ""))
        details = {k: v for k, v in vars(e).items() if k not in HIDDEN_FIELDS}
        who = names.get(by) or ("the system" if by == str(UUID(int=0)) else "someone")
        stream = type(e).__qualname__.split(".")[0]  # "Talk" for Talk.Proposed
        entries.append(HistoryEntry(e.originator_version, type(e).__name__, e.timestamp, by, who, details, stream))
    return entries


# --- the knowledge-sharing graph ------------------------------------------------------------------
@dataclass
class Graph:
    nodes: list[Person]
    edges: list[dict]  # {"teacher", "learner", "weight", "topics": [labels]}
    facts: list[tuple[str, str, float, datetime]]  # (teacher, learner, weight, at): one per source and topic

    @cached_property
    def by_id(self) -> dict[str, Person]:
        return {p.id: p for p in self.nodes}


def graph(engine: sa.Engine, at: datetime | None = None, topic: str | None = None,
          department: str | None = None) -> Graph:
    """Peers (as of ``at``) and the learning between them, aggregated per teacher -> learner."""
    found = _cached(engine, ("graph", at, topic, department), lambda: _graph(engine, at, topic, department))
    edges = [dict(e, topics=list(e["topics"])) for e in found.edges]
    copy = Graph(list(found.nodes), edges, list(found.facts))
    copy.__dict__["by_id"] = found.by_id  # (the cached graph's: the people do not change)
    return copy


def _graph(engine: sa.Engine, at: datetime | None, topic: str | None, department: str | None) -> Graph:
    names, people = _names(engine, at), dict(_people(engine, at))
    with Session(engine) as c:
        first = earliest_people(c)
        rows = c.execute(sa.select(LearningEdgeRow.teacher_id, LearningEdgeRow.learner_id,
                                   LearningEdgeRow.topic_key, LearningEdgeRow.weight, LearningEdgeRow.at)
                         .where(holds(LearningEdgeRow, at)).order_by(LearningEdgeRow.id)).all()
    wanted_topic = names.canonical(normalise_skill(topic)) if topic else None
    edges: dict[tuple[str, str], dict] = {}
    facts = []
    for r in rows:
        key = names.canonical(r.topic_key)
        if wanted_topic and key != wanted_topic:
            continue
        for peer in (r.teacher_id, r.learner_id):
            if peer not in people and peer in first:  # learned before their registration was recorded
                people[peer] = first[peer]
        edge = edges.setdefault((r.teacher_id, r.learner_id),
                                {"teacher": r.teacher_id, "learner": r.learner_id, "weight": 0.0, "topics": []})
        edge["weight"] += r.weight
        if names.label(key) not in edge["topics"]:
            edge["topics"].append(names.label(key))
        facts.append((r.teacher_id, r.learner_id, r.weight, utc(r.at)))
    nodes = [p for p in people.values() if p.active or any(p.id in pair for pair in edges)]
    if department:
        nodes = [p for p in nodes if p.department == department]
    keep = {p.id for p in nodes}
    edge_list = [e for e in edges.values() if e["teacher"] in keep and e["learner"] in keep]
    facts = [f for f in facts if f[0] in keep and f[1] in keep]
    for e in edge_list:
        e["weight"] = round(e["weight"], 3)
    return Graph(sorted(nodes, key=lambda p: p.name), edge_list, facts)


@dataclass
class Analysis:
    communities: list[list[Person]]
    brokers: list[tuple[Person, float]]
    isolated: list[Person]
    babel: list[tuple[str, float, float]]  # (YYYY-MM, weight crossing departments, share crossing)

    @cached_property
    def isolated_by_department(self) -> list[tuple[str, int]]:
        """How many people of each department are not yet connected, most first."""
        return Counter(p.department for p in self.isolated).most_common()


def analyse(g: Graph) -> Analysis:
    """Communities (greedy modularity), brokers (betweenness), isolated peers, and per month the
    share of learning (by weight) whose teacher and learner are in different departments."""
    import networkx as nx
    from networkx.algorithms.community import greedy_modularity_communities

    people = {p.id: p for p in g.nodes}
    directed = nx.DiGraph()
    directed.add_nodes_from(people)
    for e in g.edges:
        directed.add_edge(e["teacher"], e["learner"], weight=e["weight"])
    linked = [n for n in directed if directed.degree(n) > 0]
    communities: list[list[Person]] = []
    if directed.number_of_edges():
        undirected = directed.subgraph(linked).to_undirected()
        for group in greedy_modularity_communities(undirected, weight="weight"):
            communities.append(sorted((people[n] for n in group), key=lambda p: p.name))
        communities.sort(key=lambda group: (-len(group), group[0].name))
    between = betweenness(directed, linked)
    brokers = sorted(((people[n], round(b, 4)) for n, b in between.items() if b > 0),
                     key=lambda pb: (-pb[1], pb[0].name))
    isolated = sorted((people[n] for n in directed if directed.degree(n) == 0), key=lambda p: p.name)
    months: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for teacher, learner, weight, at in g.facts:
        month = months[at.strftime("%Y-%m")]
        month[1] += weight
        if people[teacher].department != people[learner].department:
            month[0] += weight
    babel = [(m, round(cross, 3), round(cross / total, 3) if total else 0.0)
             for m, (cross, total) in sorted(months.items())]
    return Analysis(communities, brokers, isolated, babel)


def betweenness(directed, linked: list) -> dict:
    """``networkx.betweenness_centrality(directed, normalized=True)``, computed over the people
    with a link only. A person without one lies on no shortest path and has none through them, so
    the values are the same, but networkx's own pass starts a search from every node and sets up
    a table of every node for each: quadratic in the people, minutes for an organisation of 21,001
    with no learning recorded yet (the bench's 1M-event history). What is left is a search from
    every linked person (on random graphs of 6 links a person: 0.25 s at 500 linked people, 1.1 s
    at 1,000, 4.6 s at 2,000), once per position of the graph view (``GraphAnalytics``)."""
    import networkx as nx

    n = directed.number_of_nodes()
    raw = nx.betweenness_centrality(directed.subgraph(linked), normalized=False)  # counts of (s, t) pairs
    scale = 1 / ((n - 1) * (n - 2)) if n > 2 else 1.0  # networkx's normalisation of a directed graph of n
    return {node: value * scale for node, value in raw.items()}


class GraphAnalytics:
    """``analyse`` once per (graph view position, as-of moment), never per request: the answer
    only changes when the graph view moves (attendance recorded late can still change the past).
    The least recently computed entries are dropped beyond ``MAX_ENTRIES``."""

    MAX_ENTRIES = 64

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._cache: dict[tuple, Analysis] = {}
        self._lock = threading.Lock()
        self.computed = 0

    def position(self) -> int:
        from commonroom.projections.base import Tracking

        with self.engine.connect() as c:
            return c.execute(sa.select(Tracking.position).where(Tracking.name == "graph")).scalar() or 0

    def get(self, at: datetime | None = None) -> Analysis:
        key = (at, self.position())
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = analyse(graph(self.engine, at))
                self.computed += 1
                if len(self._cache) >= self.MAX_ENTRIES:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = found
            return found


def months(engine: sa.Engine, today: date, at_least: int = 6) -> list[date]:
    """Month ends from the first registration (or ``at_least`` months back) to today: the timeline."""
    with Session(engine) as c:
        first = c.execute(sa.select(sa.func.min(PeerVersionRow.valid_from))).scalar()
    if first is None:
        return []
    back = date(today.year - (today.month <= at_least - 1), (today.month - at_least) % 12 + 1, 1)
    start = min(first.date(), back)
    ends, year, month = [], start.year, start.month
    while (year, month) <= (today.year, today.month):
        nxt = date(year + month // 12, month % 12 + 1, 1)
        ends.append(min(nxt - timedelta(days=1), today))
        year, month = nxt.year, nxt.month
    return ends
