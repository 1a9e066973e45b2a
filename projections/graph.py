"""Knowledge-sharing graph: who learned from whom, on which topic, and each peer's department.

Every row is a timestamped fact (``valid_from`` .. ``valid_to``; ``valid_to`` is NULL while the
fact holds), so the graph as of any moment is a WHERE clause, not a replay.

"As of" is record time: a fact holds from the moment its event was recorded, so the graph as
of T equals the graph rebuilt from the events recorded up to T. Each edge also keeps ``at``, when
the learning happened (the talk's start, a session's day), for the month it counts in.

Edges are teacher -> learner, one row per source and topic. A talk attended gives speaker ->
attendee. Trades and mentoring add their edges by registering handlers that call
``add_learning_edge`` / ``end_learning_edges``.
"""

from __future__ import annotations

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


def add_learning_edge(s: Session, teacher: UUID | str, learner: UUID | str, topic: str, at: datetime,
                      source_type: str, source_id: UUID | str, weight: float = 1.0,
                      valid_from: datetime | None = None) -> None:
    """Record that ``teacher`` taught ``learner`` ``topic`` at ``at`` (a talk, a trade session ...)."""
    s.add(LearningEdgeRow(
        teacher_id=str(teacher), learner_id=str(learner), topic_key=normalise_skill(topic), topic=topic,
        weight=weight, at=utc(at), source_type=source_type, source_id=str(source_id),
        valid_from=utc(valid_from or at), valid_to=None,
    ))


def end_learning_edges(s: Session, source_type: str, source_id: UUID | str, at: datetime,
                       learner: UUID | str | None = None) -> list[LearningEdgeRow]:
    """Close the open edges of one source (optionally only one learner's); return them."""
    query = sa.select(LearningEdgeRow).where(
        LearningEdgeRow.source_type == source_type, LearningEdgeRow.source_id == str(source_id),
        LearningEdgeRow.valid_to.is_(None))
    if learner is not None:
        query = query.where(LearningEdgeRow.learner_id == str(learner))
    rows = list(s.scalars(query))
    for row in rows:
        row.valid_to = max(utc(at), utc(row.valid_from))
    return rows


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
        s.add(PeerVersionRow(peer_id=str(e.originator_id), name=e.name, department=e.department,
                             active=True, valid_from=e.timestamp, valid_to=None))

    @handle.register
    def _(self, e: Peer.ProfileChanged, s: Session) -> None:
        self._new_version(s, e, name=e.name, department=e.department)

    @handle.register
    def _(self, e: Peer.Deactivated, s: Session) -> None:
        self._new_version(s, e, active=False)

    @staticmethod
    def _new_version(s: Session, e, **changes) -> None:
        current = s.scalars(sa.select(PeerVersionRow).where(
            PeerVersionRow.peer_id == str(e.originator_id), PeerVersionRow.valid_to.is_(None))).first()
        if current is None:
            return
        current.valid_to = e.timestamp
        values = dict(name=current.name, department=current.department, active=current.active)
        values.update(changes)
        s.add(PeerVersionRow(peer_id=current.peer_id, valid_from=e.timestamp, valid_to=None, **values))

    # --- talks ----------------------------------------------------------------------------------
    @handle.register
    def _(self, e: Talk.Proposed, s: Session) -> None:
        s.merge(GraphTalkRow(talk_id=str(e.originator_id), speaker_id=str(e.speaker_id),
                             topics=",".join(e.topics), starts_at=None))

    @handle.register(Talk.Scheduled)
    @handle.register(Talk.Rescheduled)
    def _(self, e, s: Session) -> None:
        s.get(GraphTalkRow, str(e.originator_id)).starts_at = utc(e.starts_at)

    @handle.register
    def _(self, e: Talk.Revised, s: Session) -> None:
        talk = s.get(GraphTalkRow, str(e.originator_id))
        talk.topics = ",".join(e.topics)
        learners = {row.learner_id for row in end_learning_edges(s, TALK_ATTENDED, talk.talk_id, e.timestamp)}
        for learner in sorted(learners):
            self._attended(s, talk, learner, e.timestamp)

    @handle.register
    def _(self, e: Talk.AttendanceRecorded, s: Session) -> None:
        talk = s.get(GraphTalkRow, str(e.originator_id))
        end_learning_edges(s, TALK_ATTENDED, talk.talk_id, e.timestamp, learner=e.peer_id)
        if e.attended:
            self._attended(s, talk, str(e.peer_id), e.timestamp)

    @staticmethod
    def _attended(s: Session, talk: GraphTalkRow, learner: str, recorded_at: datetime) -> None:
        topics = [t for t in talk.topics.split(",") if t]
        for topic in topics:
            add_learning_edge(s, talk.speaker_id, learner, topic, utc(talk.starts_at) or recorded_at,
                              TALK_ATTENDED, talk.talk_id, weight=1.0 / len(topics),
                              valid_from=effective_time(talk.starts_at, recorded_at))

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
