"""Expertise: evidence per peer and skill, wanted skills, endorsements, skill names and aliases,
and every talk's state over time.

Like the graph, every row is a timestamped fact (``valid_from`` .. ``valid_to``, NULL while it
holds), so "as of" is a WHERE clause. Rows keep the skill's own normalised key; alias merges are
rows too, applied when reading (so a merge shows in every view, and as of before the merge the
names were still apart). A fact holds from when its event was recorded (``effective_time``);
``evidence_at`` is when it happened (a talk's start), which the decay measures from.

Speed: the handlers keep what one batch touches (each talk's current version, attendees and open
evidence, the skill names) in ``_Batch``, held in the batch session's ``info``. A talk's rows are
read once per batch, without autoflushing, and every change is an ORM change written in bulk when
the batch commits. Each event still closes and opens its own facts at its own recording time (so
"as of" still equals a rebuild from the log's prefix), but an attendance or rating event compares
only the speaker's and that attendee's items, not the whole talk's.

Trades add "taught" evidence by registering handlers that call ``add_evidence`` /
``end_evidence`` (kind ``trade_taught``, weight ``TRADE_TAUGHT_PER_HOUR`` x hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import singledispatchmethod
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from commonroom.domain.mentoring import Mentorship
from commonroom.domain.peer import Peer
from commonroom.domain.skills import (
    DECLARED_WEIGHT, ENDORSEMENT_WEIGHT, TALK_ATTENDED_WEIGHT, Endorsement, SkillCatalog, normalise_skill,
    TRADE_TAUGHT_PER_HOUR, talk_given_weight,
)
from commonroom.domain.talk import Talk
from commonroom.domain.trade import Trade, session_source_id
from commonroom.projections.base import Base, Projection
from commonroom.projections.graph import add_numbered, effective_time, on_day, restart_ids, utc

DECLARED, TALK_GIVEN, TALK_ATTENDED, TRADE_TAUGHT, ENDORSED = (
    "declared", "talk_given", "talk_attended", "trade_taught", "endorsement")
MENTORED = "mentored"


class SkillNameRow(Base):
    """How a skill key is shown: the first way anyone wrote it (or the name it was merged into)."""

    __tablename__ = "skill_names"
    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(80))
    first_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class SkillAliasRow(Base):
    __tablename__ = "skill_aliases"
    alias_key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    into_key: Mapped[str] = mapped_column(sa.String(80))
    merged_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    merged_by: Mapped[str] = mapped_column(sa.String(36))


class EvidenceRow(Base):
    __tablename__ = "expertise_evidence"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    skill_key: Mapped[str] = mapped_column(sa.String(80), index=True)
    skill: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[str] = mapped_column(sa.String(20))
    source_type: Mapped[str] = mapped_column(sa.String(20))  # profile | talk | trade | endorsement
    source_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    detail: Mapped[str] = mapped_column(sa.String(300))
    weight: Mapped[float]
    evidence_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))  # what the decay measures from
    valid_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    valid_to: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


class WantRow(Base):
    __tablename__ = "skill_wants"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    skill_key: Mapped[str] = mapped_column(sa.String(80), index=True)
    skill: Mapped[str] = mapped_column(sa.String(80))
    valid_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    valid_to: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


class EndorsementRow(Base):
    __tablename__ = "endorsements"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    endorsement_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    endorser_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    endorsee_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    skill_key: Mapped[str] = mapped_column(sa.String(80))
    skill: Mapped[str] = mapped_column(sa.String(80))
    sentence: Mapped[str] = mapped_column(sa.String(280))
    valid_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    valid_to: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


class TalkVersionRow(Base):
    """A talk as it stood between two of its events (the schedule as of any moment)."""

    __tablename__ = "talk_versions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    talk_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    speaker_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    topics: Mapped[str] = mapped_column(sa.String(400))
    status: Mapped[str] = mapped_column(sa.String(12))
    day: Mapped[date | None]
    room_id: Mapped[str | None] = mapped_column(sa.String(40))
    starts_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(default=0)
    confirmed: Mapped[int] = mapped_column(default=0)
    waitlisted: Mapped[int] = mapped_column(default=0)
    valid_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    valid_to: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


class TalkAttendeeRow(Base):
    """Current attendance and rating per talk and peer (to weigh a talk's evidence)."""

    __tablename__ = "expertise_talk_attendees"
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    attended: Mapped[bool] = mapped_column(default=False)
    rating: Mapped[int | None]


@dataclass
class _Batch:
    """The rows one batch (one session) works on, so each is read at most once per batch.

    Every row of these tables that the handlers change goes through here, so a key missing from a
    dict has no unflushed change and can be read from the database without flushing first.
    """

    skill_names: set[str] | None = None  # every key in skill_names, once read
    versions: dict[str, TalkVersionRow] = field(default_factory=dict)  # talk -> its open version
    attendees: dict[str, dict[str, TalkAttendeeRow]] = field(default_factory=dict)  # talk -> peer -> row
    evidence: dict[str, dict[tuple[str, str, str], EvidenceRow]] = field(default_factory=dict)  # talk's open


def _batch(s: Session) -> _Batch:
    batch = s.info.get("expertise.batch")
    if batch is None:
        batch = s.info["expertise.batch"] = _Batch()
    return batch


def add_evidence(s: Session, peer_id: UUID | str, skill: str, kind: str, source_type: str,
                 source_id: UUID | str, detail: str, weight: float, evidence_at: datetime,
                 valid_from: datetime | None = None) -> EvidenceRow:
    """One item of evidence that ``peer_id`` knows ``skill`` (shown with its source on the page)."""
    name_skill(s, skill, evidence_at if valid_from is None else valid_from)
    row = EvidenceRow(peer_id=str(peer_id), skill_key=normalise_skill(skill), skill=skill, kind=kind,
                      source_type=source_type, source_id=str(source_id), detail=detail[:300], weight=weight,
                      evidence_at=utc(evidence_at), valid_from=utc(valid_from or evidence_at), valid_to=None)
    return add_numbered(s, row)


def end_evidence(s: Session, source_id: UUID | str, at: datetime, kind: str | None = None,
                 peer_id: UUID | str | None = None, skill: str | None = None) -> int:
    """Close the open evidence of one source (optionally one kind, peer or skill)."""
    query = sa.select(EvidenceRow).where(EvidenceRow.source_id == str(source_id), EvidenceRow.valid_to.is_(None))
    if kind is not None:
        query = query.where(EvidenceRow.kind == kind)
    if peer_id is not None:
        query = query.where(EvidenceRow.peer_id == str(peer_id))
    if skill is not None:
        query = query.where(EvidenceRow.skill == skill)
    rows = list(s.scalars(query))
    for row in rows:
        row.valid_to = max(utc(at), utc(row.valid_from))
    return len(rows)


def name_skill(s: Session, text: str, at: datetime) -> None:
    key = normalise_skill(text)
    if not key:
        return
    batch = _batch(s)
    if batch.skill_names is None:  # one query per batch (a few hundred keys at most)
        with s.no_autoflush:
            batch.skill_names = set(s.scalars(sa.select(SkillNameRow.key)))
    if key not in batch.skill_names:
        batch.skill_names.add(key)
        s.add(SkillNameRow(key=key, label=text, first_seen=at))


def _close(s: Session, model, at: datetime, *where) -> None:
    for row in s.scalars(sa.select(model).where(model.valid_to.is_(None), *where)):
        row.valid_to = max(utc(at), utc(row.valid_from))


class ExpertiseView(Projection):
    name = "expertise"
    tables = [SkillNameRow, SkillAliasRow, EvidenceRow, WantRow, EndorsementRow, TalkVersionRow, TalkAttendeeRow]

    def reset(self, session: Session) -> None:
        super().reset(session)
        restart_ids(session, self.tables)

    @singledispatchmethod
    def handle(self, event: object, s: Session) -> None:
        """Not an expertise event."""

    # --- skills on the profile ------------------------------------------------------------------
    @handle.register
    def _(self, e: Peer.SkillOffered, s: Session) -> None:
        add_evidence(s, e.originator_id, e.skill, DECLARED, "profile", e.originator_id,
                     "offered on their profile", DECLARED_WEIGHT, e.timestamp)

    @handle.register
    def _(self, e: Peer.SkillWithdrawn, s: Session) -> None:
        end_evidence(s, e.originator_id, e.timestamp, kind=DECLARED, skill=e.skill)

    @handle.register
    def _(self, e: Peer.SkillWanted, s: Session) -> None:
        name_skill(s, e.skill, e.timestamp)
        add_numbered(s, WantRow(peer_id=str(e.originator_id), skill_key=normalise_skill(e.skill),
                                skill=e.skill, valid_from=e.timestamp, valid_to=None))

    @handle.register
    def _(self, e: Peer.WantedSkillDropped, s: Session) -> None:
        _close(s, WantRow, e.timestamp, WantRow.peer_id == str(e.originator_id), WantRow.skill == e.skill)

    @handle.register
    def _(self, e: Peer.Deactivated, s: Session) -> None:
        pid = str(e.originator_id)
        _close(s, WantRow, e.timestamp, WantRow.peer_id == pid)
        _close(s, EvidenceRow, e.timestamp, EvidenceRow.peer_id == pid, EvidenceRow.kind == DECLARED)

    # --- the catalog and endorsements -----------------------------------------------------------
    @handle.register
    def _(self, e: SkillCatalog.AliasMerged, s: Session) -> None:
        name_skill(s, e.alias_label, e.timestamp)
        name_skill(s, e.into_label, e.timestamp)
        s.merge(SkillAliasRow(alias_key=e.alias_key, into_key=e.into_key, merged_at=e.timestamp, merged_by=str(e.by)))

    @handle.register
    def _(self, e: Endorsement.Given, s: Session) -> None:
        self._endorse(s, e, str(e.endorser_id), str(e.endorsee_id))

    @handle.register
    def _(self, e: Endorsement.Revised, s: Session) -> None:
        last = s.scalars(sa.select(EndorsementRow).where(
            EndorsementRow.endorsement_id == str(e.originator_id)).order_by(EndorsementRow.id.desc())).first()
        self._end_endorsement(s, e)
        self._endorse(s, e, last.endorser_id, last.endorsee_id)

    @handle.register
    def _(self, e: Endorsement.Withdrawn, s: Session) -> None:
        self._end_endorsement(s, e)

    @staticmethod
    def _endorse(s: Session, e, endorser: str, endorsee: str) -> None:
        name_skill(s, e.skill, e.timestamp)
        add_numbered(s, EndorsementRow(
            endorsement_id=str(e.originator_id), endorser_id=endorser, endorsee_id=endorsee,
            skill_key=normalise_skill(e.skill), skill=e.skill, sentence=e.sentence,
            valid_from=e.timestamp, valid_to=None))
        detail = f"endorsed by a peer who learned from them: \u201c{e.sentence}\u201d" if e.sentence \
            else "endorsed by a peer who learned from them"
        add_evidence(s, endorsee, e.skill, ENDORSED, "endorsement", e.originator_id, detail,
                     ENDORSEMENT_WEIGHT, e.timestamp)

    @staticmethod
    def _end_endorsement(s: Session, e) -> None:
        _close(s, EndorsementRow, e.timestamp, EndorsementRow.endorsement_id == str(e.originator_id))
        end_evidence(s, e.originator_id, e.timestamp)

    # --- talks: versions for the schedule as of, evidence for speakers and attendees ------------
    @handle.register
    def _(self, e: Talk.Proposed, s: Session) -> None:
        for topic in e.topics:
            name_skill(s, topic, e.timestamp)
        version = TalkVersionRow(talk_id=str(e.originator_id), speaker_id=str(e.speaker_id), title=e.title,
                                 topics=",".join(e.topics), status="proposed", capacity=0, confirmed=0,
                                 waitlisted=0, valid_from=e.timestamp, valid_to=None)
        add_numbered(s, version)
        _batch(s).versions[version.talk_id] = version

    @handle.register
    def _(self, e: Talk.Revised, s: Session) -> None:
        for topic in e.topics:
            name_skill(s, topic, e.timestamp)
        self._version(s, e, title=e.title, topics=",".join(e.topics))
        self._refresh_talk_evidence(s, e)

    @handle.register(Talk.Scheduled)
    @handle.register(Talk.Rescheduled)
    def _(self, e, s: Session) -> None:
        self._version(s, e, status="scheduled", day=e.day, room_id=e.room_id, starts_at=utc(e.starts_at),
                      capacity=e.capacity)

    @handle.register
    def _(self, e: Talk.Withdrawn, s: Session) -> None:
        self._version(s, e, status="withdrawn")

    @handle.register
    def _(self, e: Talk.Cancelled, s: Session) -> None:
        self._version(s, e, status="cancelled")

    @handle.register(Talk.SignedUp)
    @handle.register(Talk.Waitlisted)
    @handle.register(Talk.Promoted)
    @handle.register(Talk.SignUpCancelled)
    def _(self, e, s: Session) -> None:
        current = self._current(s, e)
        confirmed, waitlisted = current.confirmed, current.waitlisted
        if isinstance(e, Talk.SignedUp):
            confirmed += 1
        elif isinstance(e, Talk.Waitlisted):
            waitlisted += 1
        elif isinstance(e, Talk.Promoted):
            confirmed, waitlisted = confirmed + 1, waitlisted - 1
        elif e.was_waitlisted:
            waitlisted -= 1
        else:
            confirmed -= 1
        self._version(s, e, confirmed=confirmed, waitlisted=waitlisted)

    @handle.register
    def _(self, e: Talk.AttendanceRecorded, s: Session) -> None:
        attendees = self._attendees(s, str(e.originator_id))
        peer_id = str(e.peer_id)
        row = attendees.get(peer_id)
        if row is None:
            row = attendees[peer_id] = TalkAttendeeRow(talk_id=str(e.originator_id), peer_id=peer_id,
                                                       attended=e.attended)
            s.add(row)
        else:
            row.attended = e.attended
        self._refresh_talk_evidence(s, e, only=peer_id)

    @handle.register
    def _(self, e: Talk.FeedbackGiven, s: Session) -> None:
        peer_id = str(e.peer_id)
        self._attendees(s, str(e.originator_id))[peer_id].rating = e.rating
        self._refresh_talk_evidence(s, e, only=peer_id)

    @staticmethod
    def _current(s: Session, e) -> TalkVersionRow:
        versions, talk_id = _batch(s).versions, str(e.originator_id)
        current = versions.get(talk_id)
        if current is None:
            with s.no_autoflush:
                current = versions[talk_id] = s.scalars(sa.select(TalkVersionRow).where(
                    TalkVersionRow.talk_id == talk_id, TalkVersionRow.valid_to.is_(None))).one()
        return current

    @staticmethod
    def _attendees(s: Session, talk_id: str) -> dict[str, TalkAttendeeRow]:
        held = _batch(s).attendees
        if talk_id not in held:
            with s.no_autoflush:
                held[talk_id] = {row.peer_id: row for row in s.scalars(
                    sa.select(TalkAttendeeRow).where(TalkAttendeeRow.talk_id == talk_id))}
        return held[talk_id]

    @staticmethod
    def _open_talk_evidence(s: Session, talk_id: str) -> dict[tuple[str, str, str], EvidenceRow]:
        held = _batch(s).evidence
        if talk_id not in held:
            with s.no_autoflush:
                held[talk_id] = {(row.peer_id, row.skill, row.kind): row for row in s.scalars(
                    sa.select(EvidenceRow).where(
                        EvidenceRow.source_id == talk_id, EvidenceRow.source_type == "talk",
                        EvidenceRow.valid_to.is_(None)).order_by(EvidenceRow.id))}
        return held[talk_id]

    def _version(self, s: Session, e, **changes) -> None:
        current = self._current(s, e)
        current.valid_to = e.timestamp
        keep = ("talk_id", "speaker_id", "title", "topics", "status", "day", "room_id", "starts_at",
                "capacity", "confirmed", "waitlisted")
        values = {name: getattr(current, name) for name in keep} | changes
        version = add_numbered(s, TalkVersionRow(valid_from=e.timestamp, valid_to=None, **values))
        _batch(s).versions[version.talk_id] = version

    def _refresh_talk_evidence(self, s: Session, e, only: str | None = None) -> None:
        """Bring the talk's evidence (speaker's and attendees') in line with what its state now
        says: only the items that changed are closed and opened, the rest keep their history.

        ``only``: the one attendee whose attendance or rating changed; then only the speaker's
        items and that attendee's are compared (no other attendee's item can have changed).
        """
        talk = self._current(s, e)
        attendees = self._attendees(s, talk.talk_id)
        if not attendees:
            return
        came = [a for a in attendees.values() if a.attended]
        ratings = [a.rating for a in came if a.rating is not None]
        weight = talk_given_weight(len(came), ratings)
        mean = f", mean rating {sum(ratings) / len(ratings):.1f}" if ratings else ""
        if only is None:
            learners = sorted(a.peer_id for a in came)
        else:
            learners = [only] if attendees[only].attended else []
        wanted = {}
        for topic in (t for t in talk.topics.split(",") if t):
            wanted[(talk.speaker_id, topic, TALK_GIVEN)] = (
                weight, f"gave \u201c{talk.title}\u201d ({len(came)} attended{mean})")
            for learner in learners:
                wanted[(learner, topic, TALK_ATTENDED)] = (
                    TALK_ATTENDED_WEIGHT, f"attended \u201c{talk.title}\u201d")
        recorded = effective_time(talk.starts_at, e.timestamp)
        current = self._open_talk_evidence(s, talk.talk_id)
        for key, row in list(current.items()):
            if only is not None and key[2] == TALK_ATTENDED and key[0] != only:
                continue
            if wanted.get(key) == (row.weight, row.detail):
                del wanted[key]
            else:
                row.valid_to = max(utc(recorded), utc(row.valid_from))
                del current[key]
        at = utc(talk.starts_at) or e.timestamp
        for (peer_id, topic, kind), (item_weight, detail) in wanted.items():
            current[(peer_id, topic, kind)] = add_evidence(
                s, peer_id, topic, kind, "talk", talk.talk_id, detail, item_weight, at, valid_from=recorded)

    # --- trades and mentoring: confirmed teaching is evidence for the teacher -------------------
    @handle.register
    def _(self, e: Trade.SessionConfirmed, s: Session) -> None:
        at = on_day(e.on)
        add_evidence(s, e.teacher_id, e.topic, TRADE_TAUGHT, "trade", session_source_id(e.originator_id, e.number),
                     f"taught {e.topic} in a trade ({e.minutes} min, confirmed by the learner)",
                     TRADE_TAUGHT_PER_HOUR * e.minutes / 60, at, valid_from=effective_time(at, e.timestamp))

    @handle.register
    def _(self, e: Trade.SessionLogged, s: Session) -> None:
        if e.replaces:  # a correction supersedes the earlier session's evidence
            end_evidence(s, session_source_id(e.originator_id, e.replaces), e.timestamp)

    @handle.register
    def _(self, e: Mentorship.ContactLogged, s: Session) -> None:
        at = on_day(e.on)
        for topic in e.topics:
            add_evidence(s, e.mentor_id, topic, MENTORED, "mentoring", e.originator_id,
                         f"mentored {topic} ({e.kind}, {e.minutes} min)",
                         TRADE_TAUGHT_PER_HOUR * e.minutes / 60 / len(e.topics), at,
                         valid_from=effective_time(at, e.timestamp))
