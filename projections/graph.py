"""Knowledge-sharing graph: who learned from whom, on which topic, and each peer's department.

Every row is a timestamped fact (``valid_from`` .. ``valid_to``; ``valid_to`` is NULL while the
fact holds), so the graph as of any moment is a WHERE clause, not a replay.

"As of" is record time: a fact holds from the moment its event was recorded, so the graph as
of T equals the graph rebuilt from the events recorded up to T. Each edge also keeps ``at``, when
the learning happened (the talk's start, a session's day), for the month it counts in.

Edges are teacher -> learner, one row per source and topic. A talk attended gives speaker ->
attendee. Trades and mentoring add their edges by registering handlers that call
``add_learning_edge`` / ``end_learning_edges``.

Batched (``base.Rows``): a batch reads the open versions and edges its events touch in one query
per table (by ``peer_id`` / ``source_id``, only rows with ``valid_to`` NULL), closes and adds facts
in memory, and the runner writes them in bulk; new facts are numbered in memory, never read back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from functools import singledispatchmethod
from types import SimpleNamespace
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from commonroom.domain.mentoring import Mentorship
from commonroom.domain.peer import Peer
from commonroom.domain.skills import normalise_skill
from commonroom.domain.talk import Talk
from commonroom.domain.trade import Trade, session_source_id
from commonroom.projections.base import Base, Projection, Rows, str_id

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


def add_learning_edge(rows: Rows, teacher: UUID | str, learner: UUID | str, topic: str, at: datetime,
                      source_type: str, source_id: UUID | str, weight: float = 1.0,
                      valid_from: datetime | None = None) -> SimpleNamespace:
    """Record that ``teacher`` taught ``learner`` ``topic`` at ``at`` (a talk, a trade session ...)."""
    return rows.add(LearningEdgeRow,
                    teacher_id=str_id(teacher), learner_id=str_id(learner), topic_key=normalise_skill(topic),
                    topic=topic, weight=weight, at=utc(at), source_type=source_type, source_id=str_id(source_id),
                    valid_from=utc(valid_from or at), valid_to=None)


def open_edges(rows: Rows, source_type: str, source_id: UUID | str) -> list[SimpleNamespace]:
    """The open edges of one source, in id order."""
    return [row for row in rows.find(LearningEdgeRow, "source_id", str_id(source_id), valid_to=None)
            if row.source_type == source_type]


def end_learning_edges(rows: Rows, source_type: str, source_id: UUID | str, at: datetime,
                       learner: UUID | str | None = None) -> list[SimpleNamespace]:
    """Close the open edges of one source (optionally only one learner's); return them."""
    found = open_edges(rows, source_type, source_id)
    if learner is not None:
        found = [row for row in found if row.learner_id == str_id(learner)]
    close(found, at)
    return found


def close(facts: Iterable[SimpleNamespace], at: datetime) -> None:
    """End facts at ``at`` (never before they began)."""
    moment = utc(at)
    for row in facts:
        row.valid_to = max(moment, utc(row.valid_from))


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
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        rows.load_by(PeerVersionRow, "peer_id", {str_id(e.originator_id) for e in events
                                                 if isinstance(e, (Peer.ProfileChanged, Peer.Deactivated))},
                     valid_to=None)
        talks = {str_id(e.originator_id) for e in events if isinstance(e, Talk.Event)}
        rows.load(GraphTalkRow, talks)
        sources = {str_id(e.originator_id) for e in events if isinstance(e, (Talk.Revised, Talk.AttendanceRecorded))}
        sources |= {str(session_source_id(e.originator_id, e.replaces)) for e in events
                    if isinstance(e, Trade.SessionLogged) and e.replaces}
        rows.load_by(LearningEdgeRow, "source_id", sources, valid_to=None)

    def reset(self, session: Session) -> None:
        super().reset(session)
        restart_ids(session, self.tables)

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Not a graph event."""

    # --- nodes ----------------------------------------------------------------------------------
    @handle.register
    def _(self, e: Peer.Registered, rows: Rows) -> None:
        rows.add(PeerVersionRow, peer_id=str_id(e.originator_id), name=e.name, department=e.department,
                 active=True, valid_from=e.timestamp, valid_to=None)

    @handle.register
    def _(self, e: Peer.ProfileChanged, rows: Rows) -> None:
        self._new_version(rows, e, name=e.name, department=e.department)

    @handle.register
    def _(self, e: Peer.Deactivated, rows: Rows) -> None:
        self._new_version(rows, e, active=False)

    @staticmethod
    def _new_version(rows: Rows, e, **changes) -> None:
        peer_id = str_id(e.originator_id)
        found = rows.find(PeerVersionRow, "peer_id", peer_id, valid_to=None)
        if not found:
            return
        current = found[0]
        current.valid_to = e.timestamp
        values = dict(name=current.name, department=current.department, active=current.active)
        values.update(changes)
        rows.add(PeerVersionRow, peer_id=peer_id, valid_from=e.timestamp, valid_to=None, **values)

    # --- talks ----------------------------------------------------------------------------------
    @staticmethod
    def _learners(rows: Rows, talk_id: str) -> dict[str, list[SimpleNamespace]]:
        """The talk's open attendance edges by learner."""
        by_learner: dict[str, list[SimpleNamespace]] = {}
        for row in open_edges(rows, TALK_ATTENDED, talk_id):
            by_learner.setdefault(row.learner_id, []).append(row)
        return by_learner

    @handle.register
    def _(self, e: Talk.Proposed, rows: Rows) -> None:
        rows.put(GraphTalkRow, talk_id=str_id(e.originator_id), speaker_id=str_id(e.speaker_id),
                 topics=",".join(e.topics), starts_at=None)

    @handle.register(Talk.Scheduled)
    @handle.register(Talk.Rescheduled)
    def _(self, e, rows: Rows) -> None:
        rows.get(GraphTalkRow, str_id(e.originator_id)).starts_at = utc(e.starts_at)

    @handle.register
    def _(self, e: Talk.Revised, rows: Rows) -> None:
        talk = rows.get(GraphTalkRow, str_id(e.originator_id))
        talk.topics = ",".join(e.topics)
        edges = self._learners(rows, talk.talk_id)
        learners = sorted(edges)
        for learner in learners:
            close(edges[learner], e.timestamp)
        for learner in learners:
            self._attended(rows, talk, learner, e.timestamp)

    @handle.register
    def _(self, e: Talk.AttendanceRecorded, rows: Rows) -> None:
        talk = rows.get(GraphTalkRow, str_id(e.originator_id))
        learner = str_id(e.peer_id)
        end_learning_edges(rows, TALK_ATTENDED, talk.talk_id, e.timestamp, learner=learner)
        if e.attended:
            self._attended(rows, talk, learner, e.timestamp)

    @staticmethod
    def _attended(rows: Rows, talk, learner: str, recorded_at: datetime) -> None:
        topics = [t for t in talk.topics.split(",") if t]
        for topic in topics:
            add_learning_edge(rows, talk.speaker_id, learner, topic, utc(talk.starts_at) or recorded_at,
                              TALK_ATTENDED, talk.talk_id, weight=1.0 / len(topics),
                              valid_from=effective_time(talk.starts_at, recorded_at))

    # --- trades and mentoring -------------------------------------------------------------------
    @handle.register
    def _(self, e: Trade.SessionConfirmed, rows: Rows) -> None:
        at = on_day(e.on)
        add_learning_edge(rows, e.teacher_id, e.learner_id, e.topic, at, TRADE,
                          session_source_id(e.originator_id, e.number), weight=e.minutes / 60,
                          valid_from=effective_time(at, e.timestamp))

    @handle.register
    def _(self, e: Trade.SessionLogged, rows: Rows) -> None:
        if e.replaces:  # a correction: the corrected session no longer stands
            end_learning_edges(rows, TRADE, session_source_id(e.originator_id, e.replaces), e.timestamp)

    @handle.register
    def _(self, e: Mentorship.ContactLogged, rows: Rows) -> None:
        at = on_day(e.on)
        for topic in e.topics:
            add_learning_edge(rows, e.mentor_id, e.mentee_id, topic, at, MENTORING, e.originator_id,
                              weight=e.minutes / 60 / len(e.topics), valid_from=effective_time(at, e.timestamp))
