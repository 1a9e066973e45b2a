"""Knowledge-sharing graph: who learned from whom, on which topic, and each peer's department.

Every row is a timestamped fact (``valid_from`` .. ``valid_to``; ``valid_to`` is NULL while the
fact holds), so the graph as of any moment is a WHERE clause, not a replay.

"As of" is record time: a fact holds from the moment its event was recorded, so the graph as
of T equals the graph rebuilt from the events recorded up to T. Each edge also keeps ``at``, when
the learning happened (the talk's start, a session's day), for the month it counts in.

Edges are teacher -> learner, one row per source and topic. A talk attended gives speaker ->
attendee. Trades and mentoring add their edges by registering handlers that call
``add_learning_edge`` / ``end_learning_edges``.

Speed: a batch keeps the rows it touches (each peer's open version, each talk and its open edges)
in ``_Batch``, held in the batch session's ``info``: read once per batch without autoflushing,
changed as ORM objects, written in bulk when the batch commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from functools import singledispatchmethod
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from commonroom.domain.mentoring import Mentorship
from commonroom.domain.peer import Peer
from commonroom.domain.skills import normalise_skill
from commonroom.domain.talk import Talk
from commonroom.domain.trade import Trade, session_source_id
from commonroom.projections.base import Base, Projection

TALK_ATTENDED = "talk_attended"
TRADE, MENTORING = "trade", "mentoring"


class PeerVersionRow(Base):
    """A peer's name, department and whether active, over time (graph nodes, directory people)."""

    __tablename__ = "peer_versions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    department: Mapped[str] = mapped_column(sa.String(80))
    active: Mapped[bool] = mapped_column(default=True)
    valid_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    valid_to: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


class GraphTalkRow(Base):
    """What the graph needs to know about a talk to draw its edges (current state only)."""

    __tablename__ = "graph_talks"
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    speaker_id: Mapped[str] = mapped_column(sa.String(36))
    topics: Mapped[str] = mapped_column(sa.String(400))  # comma separated, as typed
    starts_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class LearningEdgeRow(Base):
    __tablename__ = "learning_edges"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    teacher_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    learner_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    topic_key: Mapped[str] = mapped_column(sa.String(80), index=True)
    topic: Mapped[str] = mapped_column(sa.String(80))
    weight: Mapped[float]
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))  # when the learning happened
    source_type: Mapped[str] = mapped_column(sa.String(20))  # talk_attended | trade | mentoring
    source_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    valid_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    valid_to: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


@dataclass
class _Batch:
    """The rows one batch (one session) works on. Every change to these rows goes through here, so
    a key missing from a dict has no unflushed change and is read without flushing first."""

    peers: dict[str, PeerVersionRow | None] = field(default_factory=dict)  # peer -> open version
    talks: dict[str, GraphTalkRow | None] = field(default_factory=dict)
    # talk -> learner -> their open edges from it
    edges: dict[str, dict[str, list[LearningEdgeRow]]] = field(default_factory=dict)


def _batch(s: Session) -> _Batch:
    batch = s.info.get("graph.batch")
    if batch is None:
        batch = s.info["graph.batch"] = _Batch()
    return batch


def add_numbered(s: Session, row: Base) -> Base:
    """Add a row of a table keyed by a surrogate ``id``, numbered here: the table's highest id (read
    once per batch) plus one. With the key known, a batch's inserts go out as one executemany
    rather than one INSERT .. RETURNING per row; the numbers are those the database would give."""
    counters = s.info.setdefault("numbered", {})
    table = type(row)
    if table not in counters:
        with s.no_autoflush:
            counters[table] = s.scalar(sa.select(sa.func.max(table.id))) or 0
    counters[table] += 1
    row.id = counters[table]
    s.add(row)
    return row


def add_learning_edge(s: Session, teacher: UUID | str, learner: UUID | str, topic: str, at: datetime,
                      source_type: str, source_id: UUID | str, weight: float = 1.0,
                      valid_from: datetime | None = None) -> LearningEdgeRow:
    """Record that ``teacher`` taught ``learner`` ``topic`` at ``at`` (a talk, a trade session ...)."""
    row = LearningEdgeRow(
        teacher_id=str(teacher), learner_id=str(learner), topic_key=normalise_skill(topic), topic=topic,
        weight=weight, at=utc(at), source_type=source_type, source_id=str(source_id),
        valid_from=utc(valid_from or at), valid_to=None,
    )
    return add_numbered(s, row)


def end_learning_edges(s: Session, source_type: str, source_id: UUID | str, at: datetime,
                       learner: UUID | str | None = None) -> list[LearningEdgeRow]:
    """Close the open edges of one source (optionally only one learner's); return them."""
    query = sa.select(LearningEdgeRow).where(
        LearningEdgeRow.source_type == source_type, LearningEdgeRow.source_id == str(source_id),
        LearningEdgeRow.valid_to.is_(None))
    if learner is not None:
        query = query.where(LearningEdgeRow.learner_id == str(learner))
    rows = list(s.scalars(query))
    _close_edges(rows, at)
    return rows


def _close_edges(rows: list[LearningEdgeRow], at: datetime) -> None:
    for row in rows:
        row.valid_to = max(utc(at), utc(row.valid_from))


def restart_ids(s: Session, tables) -> None:
    """After a reset, number surrogate ids from 1 again (PostgreSQL sequences survive a DELETE),
    so a rebuild writes exactly the rows a clean rebuild would."""
    if s.get_bind().dialect.name != "postgresql":
        return  # SQLite reuses rowids once a table is empty
    for table in tables:
        column = table.__table__.c.get("id")
        if column is not None and column.autoincrement is True:
            s.execute(sa.text(f"ALTER SEQUENCE {table.__tablename__}_id_seq RESTART WITH 1"))


def effective_time(happened_at: datetime | None, recorded_at: datetime) -> datetime:
    """When a fact enters the record (its ``valid_from``): the moment its event was recorded.

    Deliberately not ``happened_at``: attendance recorded a week after a talk was not known
    during that week, and "as of" must equal a rebuild from the events recorded by then.
    ``happened_at`` stays on the row (``at``, ``evidence_at``) for decay and months.
    """
    return utc(recorded_at)


def on_day(day: date) -> datetime:
    """A session or contact logged for a day: the fact is placed at noon UTC that day."""
    return datetime.combine(day, time(12), tzinfo=timezone.utc)


def utc(moment: datetime | None) -> datetime | None:
    """Every moment stored here is UTC: SQLite keeps a datetime's wall-clock fields and drops its
    offset (12:00+01:00 would come back as 12:00), so convert before storing; naive values read
    back from SQLite are UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class GraphView(Projection):
    name = "graph"
    tables = [PeerVersionRow, GraphTalkRow, LearningEdgeRow]

    def reset(self, session: Session) -> None:
        super().reset(session)
        restart_ids(session, self.tables)

    @singledispatchmethod
    def handle(self, event: object, s: Session) -> None:
        """Not a graph event."""

    # --- nodes ----------------------------------------------------------------------------------
    @handle.register
    def _(self, e: Peer.Registered, s: Session) -> None:
        version = PeerVersionRow(peer_id=str(e.originator_id), name=e.name, department=e.department,
                                 active=True, valid_from=e.timestamp, valid_to=None)
        add_numbered(s, version)
        _batch(s).peers[version.peer_id] = version

    @handle.register
    def _(self, e: Peer.ProfileChanged, s: Session) -> None:
        self._new_version(s, e, name=e.name, department=e.department)

    @handle.register
    def _(self, e: Peer.Deactivated, s: Session) -> None:
        self._new_version(s, e, active=False)

    @staticmethod
    def _new_version(s: Session, e, **changes) -> None:
        peers, peer_id = _batch(s).peers, str(e.originator_id)
        if peer_id not in peers:
            with s.no_autoflush:
                peers[peer_id] = s.scalars(sa.select(PeerVersionRow).where(
                    PeerVersionRow.peer_id == peer_id, PeerVersionRow.valid_to.is_(None))).first()
        current = peers[peer_id]
        if current is None:
            return
        current.valid_to = e.timestamp
        values = dict(name=current.name, department=current.department, active=current.active)
        values.update(changes)
        version = PeerVersionRow(peer_id=peer_id, valid_from=e.timestamp, valid_to=None, **values)
        peers[peer_id] = add_numbered(s, version)

    # --- talks ----------------------------------------------------------------------------------
    @staticmethod
    def _talk(s: Session, talk_id: str) -> GraphTalkRow | None:
        talks = _batch(s).talks
        if talk_id not in talks:
            with s.no_autoflush:
                talks[talk_id] = s.get(GraphTalkRow, talk_id)
        return talks[talk_id]

    @staticmethod
    def _open_edges(s: Session, talk_id: str) -> dict[str, list[LearningEdgeRow]]:
        """The talk's open attendance edges by learner."""
        held = _batch(s).edges
        if talk_id not in held:
            by_learner: dict[str, list[LearningEdgeRow]] = {}
            with s.no_autoflush:
                for row in s.scalars(sa.select(LearningEdgeRow).where(
                        LearningEdgeRow.source_type == TALK_ATTENDED, LearningEdgeRow.source_id == talk_id,
                        LearningEdgeRow.valid_to.is_(None)).order_by(LearningEdgeRow.id)):
                    by_learner.setdefault(row.learner_id, []).append(row)
            held[talk_id] = by_learner
        return held[talk_id]

    @handle.register
    def _(self, e: Talk.Proposed, s: Session) -> None:
        talk_id = str(e.originator_id)
        talk = self._talk(s, talk_id)
        if talk is None:
            talk = _batch(s).talks[talk_id] = GraphTalkRow(talk_id=talk_id)
            s.add(talk)
        talk.speaker_id, talk.topics, talk.starts_at = str(e.speaker_id), ",".join(e.topics), None

    @handle.register(Talk.Scheduled)
    @handle.register(Talk.Rescheduled)
    def _(self, e, s: Session) -> None:
        self._talk(s, str(e.originator_id)).starts_at = utc(e.starts_at)

    @handle.register
    def _(self, e: Talk.Revised, s: Session) -> None:
        talk = self._talk(s, str(e.originator_id))
        talk.topics = ",".join(e.topics)
        edges = self._open_edges(s, talk.talk_id)
        learners = sorted(edges)
        for learner in learners:
            _close_edges(edges.pop(learner), e.timestamp)
        for learner in learners:
            self._attended(s, talk, learner, e.timestamp)

    @handle.register
    def _(self, e: Talk.AttendanceRecorded, s: Session) -> None:
        talk = self._talk(s, str(e.originator_id))
        learner = str(e.peer_id)
        _close_edges(self._open_edges(s, talk.talk_id).pop(learner, []), e.timestamp)
        if e.attended:
            self._attended(s, talk, learner, e.timestamp)

    def _attended(self, s: Session, talk: GraphTalkRow, learner: str, recorded_at: datetime) -> None:
        topics = [t for t in talk.topics.split(",") if t]
        self._open_edges(s, talk.talk_id)[learner] = [
            add_learning_edge(s, talk.speaker_id, learner, topic, utc(talk.starts_at) or recorded_at,
                              TALK_ATTENDED, talk.talk_id, weight=1.0 / len(topics),
                              valid_from=effective_time(talk.starts_at, recorded_at))
            for topic in topics]

    # --- trades and mentoring -------------------------------------------------------------------
    @handle.register
    def _(self, e: Trade.SessionConfirmed, s: Session) -> None:
        at = on_day(e.on)
        add_learning_edge(s, e.teacher_id, e.learner_id, e.topic, at, TRADE,
                          session_source_id(e.originator_id, e.number), weight=e.minutes / 60,
                          valid_from=effective_time(at, e.timestamp))

    @handle.register
    def _(self, e: Trade.SessionLogged, s: Session) -> None:
        if e.replaces:  # a correction: the corrected session no longer stands
            end_learning_edges(s, TRADE, session_source_id(e.originator_id, e.replaces), e.timestamp)

    @handle.register
    def _(self, e: Mentorship.ContactLogged, s: Session) -> None:
        at = on_day(e.on)
        for topic in e.topics:
            add_learning_edge(s, e.mentor_id, e.mentee_id, topic, at, MENTORING, e.originator_id,
                              weight=e.minutes / 60 / len(e.topics), valid_from=effective_time(at, e.timestamp))
