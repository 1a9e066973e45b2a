"""Expertise: evidence per peer and skill, wanted skills, endorsements, skill names and aliases,
and every talk's state over time.

Like the graph, every row is a timestamped fact (``valid_from`` .. ``valid_to``, NULL while it
holds), so "as of" is a WHERE clause. Rows keep the skill's own normalised key; alias merges are
rows too, applied when reading (so a merge shows in every view, and as of before the merge the
names were still apart). A fact holds from when its event was recorded (``effective_time``);
``evidence_at`` is when it happened (a talk's start), which the decay measures from.

Batched (``base.Rows``): ``prefetch`` reads what a batch touches (each talk's open version, its
attendees and open evidence, the skill names it uses) in one query per table; the handlers close
and add facts in memory and the runner writes them in bulk (new facts numbered in memory, never
read back). Each event still closes and opens its own facts at its own recording time (so "as of"
still equals a rebuild from the log's prefix), but an attendance or rating event compares only
the speaker's and that attendee's items, not the whole talk's.

Trades add "taught" evidence by registering handlers that call ``add_evidence`` /
``end_evidence`` (kind ``trade_taught``, weight ``TRADE_TAUGHT_PER_HOUR`` x hours).
"""

from __future__ import annotations

from datetime import date, datetime
from functools import singledispatchmethod
from types import SimpleNamespace
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
from commonroom.projections import sqlreplay
from commonroom.projections.base import Base, Projection, Replayer, Rows, str_id
from commonroom.projections.graph import close, effective_time, on_day, restart_ids, utc

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
    """A talk as it stood between two of its events (the schedule as of any moment); its seats
    change apart, in ``talk_seat_changes``."""

    __tablename__ = "talk_versions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    talk_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    # (not indexed: no query looks talks up by speaker here; a profile filters the talks that held)
    speaker_id: Mapped[str] = mapped_column(sa.String(36))
    title: Mapped[str] = mapped_column(sa.String(120))
    topics: Mapped[str] = mapped_column(sa.String(400))
    status: Mapped[str] = mapped_column(sa.String(12))
    day: Mapped[date | None]
    room_id: Mapped[str | None] = mapped_column(sa.String(40))
    starts_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(default=0)
    valid_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    valid_to: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


class SeatChangeRow(Base):
    """How one sign-up event changed a talk's seats: its seats at a moment are the sums of the
    changes recorded by then (``directory.talks_as_of``).

    Apart from ``talk_versions`` because nearly every event in a busy log is a sign-up, a cancel,
    a waitlisting or a promotion: each used to close the talk's open version and copy it whole
    (title, topics, slot) with new counts, a million wide rows at 1.12M events. A change is only
    added: nothing to read first, nothing to close.

    Keyed by the talk and its event's version, the rows kept in that order (SQLite: WITHOUT
    ROWID, one B-tree): the sums per talk read a talk's changes side by side, as the covering index
    of the rowid table this was before did, without that second copy of every row (80 of 160 MB
    at 1.26M events, sorted again by every rebuild)."""

    __tablename__ = "talk_seat_changes"
    __table_args__ = {"sqlite_with_rowid": False}
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # the event's, in its talk
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    confirmed: Mapped[int]  # +1, -1 or 0
    waitlisted: Mapped[int]


class TalkAttendeeRow(Base):
    """Current attendance and rating per talk and peer (to weigh a talk's evidence)."""

    __tablename__ = "expertise_talk_attendees"
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    attended: Mapped[bool] = mapped_column(default=False)
    rating: Mapped[int | None]


def add_evidence(rows: Rows, peer_id: UUID | str, skill: str, kind: str, source_type: str,
                 source_id: UUID | str, detail: str, weight: float, evidence_at: datetime,
                 valid_from: datetime | None = None) -> SimpleNamespace:
    """One item of evidence that ``peer_id`` knows ``skill`` (shown with its source on the page)."""
    name_skill(rows, skill, evidence_at if valid_from is None else valid_from)
    return rows.add(EvidenceRow, peer_id=str_id(peer_id), skill_key=normalise_skill(skill), skill=skill, kind=kind,
                    source_type=source_type, source_id=str_id(source_id), detail=detail[:300], weight=weight,
                    evidence_at=utc(evidence_at), valid_from=utc(valid_from or evidence_at), valid_to=None)


def end_evidence(rows: Rows, source_id: UUID | str, at: datetime, kind: str | None = None,
                 peer_id: UUID | str | None = None, skill: str | None = None) -> int:
    """Close the open evidence of one source (optionally one kind, peer or skill)."""
    found = [row for row in rows.find(EvidenceRow, "source_id", str_id(source_id), valid_to=None)
             if (kind is None or row.kind == kind) and (peer_id is None or row.peer_id == str_id(peer_id))
             and (skill is None or row.skill == skill)]
    close(found, at)
    return len(found)


def name_skill(rows: Rows, text: str, at: datetime) -> None:
    key = normalise_skill(text)
    if key and rows.get(SkillNameRow, key) is None:
        rows.add(SkillNameRow, key=key, label=text, first_seen=at)


def _skills_named(events) -> set[str]:
    """The skill texts a batch's events name themselves (talk evidence names its talk's topics)."""
    texts: set[str] = set()
    for e in events:
        if isinstance(e, (Peer.SkillOffered, Peer.SkillWanted, Endorsement.Given, Endorsement.Revised)):
            texts.add(e.skill)
        elif isinstance(e, (Talk.Proposed, Talk.Revised, Mentorship.ContactLogged)):
            texts.update(e.topics)
        elif isinstance(e, SkillCatalog.AliasMerged):
            texts.update((e.alias_label, e.into_label))
        elif isinstance(e, Trade.SessionConfirmed):
            texts.add(e.topic)
    return texts


# A talk's events that change only its seats (``talk_seat_changes``), not its version.
SEATS = sqlreplay.SEATS


def seat_change(e) -> tuple[int, int]:
    """What one of ``SEATS`` does to the talk's (confirmed, waitlisted) counts."""
    if isinstance(e, Talk.SignedUp):
        return 1, 0
    if isinstance(e, Talk.Waitlisted):
        return 0, 1
    if isinstance(e, Talk.Promoted):
        return 1, -1
    return (0, -1) if e.was_waitlisted else (-1, 0)  # SignUpCancelled


class ExpertiseView(Projection):
    name = "expertise"
    tables = [SkillNameRow, SkillAliasRow, EvidenceRow, WantRow, EndorsementRow, TalkVersionRow, SeatChangeRow,
              TalkAttendeeRow]
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        talks = {str_id(e.originator_id) for e in events if isinstance(e, Talk.Event) and not isinstance(e, SEATS)}
        rows.load_by(TalkVersionRow, "talk_id", talks, valid_to=None)
        rated = {str_id(e.originator_id) for e in events
                 if isinstance(e, (Talk.AttendanceRecorded, Talk.FeedbackGiven, Talk.Revised))}
        rows.load(TalkAttendeeRow, rated)
        skills = _skills_named(events)
        for talk_id in rated:  # their evidence is named after the talk's topics
            for version in rows.find(TalkVersionRow, "talk_id", talk_id, valid_to=None):
                skills.update(version.topics.split(","))
        rows.load(SkillNameRow, {normalise_skill(text) for text in skills} - {""})
        sources = rated | {str_id(e.originator_id) for e in events
                           if isinstance(e, (Peer.SkillWithdrawn, Endorsement.Revised, Endorsement.Withdrawn))}
        sources |= {str(session_source_id(e.originator_id, e.replaces)) for e in events
                    if isinstance(e, Trade.SessionLogged) and e.replaces}
        rows.load_by(EvidenceRow, "source_id", sources, valid_to=None)
        leaving = {str_id(e.originator_id) for e in events if isinstance(e, Peer.Deactivated)}
        rows.load_by(EvidenceRow, "peer_id", leaving, valid_to=None)
        rows.load_by(WantRow, "peer_id", leaving | {str_id(e.originator_id) for e in events
                                                    if isinstance(e, Peer.WantedSkillDropped)}, valid_to=None)
        endorsements = {str_id(e.originator_id) for e in events
                        if isinstance(e, (Endorsement.Revised, Endorsement.Withdrawn))}
        rows.load_by(EndorsementRow, "endorsement_id", endorsements)

    def reset(self, session: Session) -> None:
        super().reset(session)
        restart_ids(session, self.tables)

    def replayer(self) -> Replayer | None:
        return _SeatChangesReplayer().for_view(self)

    def sql_replayer(self) -> Replayer | None:
        return _SeatChangesSql().for_view(self)

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Not an expertise event."""

    # --- skills on the profile ------------------------------------------------------------------
    @handle.register
    def _(self, e: Peer.SkillOffered, rows: Rows) -> None:
        add_evidence(rows, e.originator_id, e.skill, DECLARED, "profile", e.originator_id,
                     "offered on their profile", DECLARED_WEIGHT, e.timestamp)

    @handle.register
    def _(self, e: Peer.SkillWithdrawn, rows: Rows) -> None:
        end_evidence(rows, e.originator_id, e.timestamp, kind=DECLARED, skill=e.skill)

    @handle.register
    def _(self, e: Peer.SkillWanted, rows: Rows) -> None:
        name_skill(rows, e.skill, e.timestamp)
        rows.add(WantRow, peer_id=str_id(e.originator_id), skill_key=normalise_skill(e.skill), skill=e.skill,
                 valid_from=e.timestamp, valid_to=None)

    @handle.register
    def _(self, e: Peer.WantedSkillDropped, rows: Rows) -> None:
        close([row for row in rows.find(WantRow, "peer_id", str_id(e.originator_id), valid_to=None)
               if row.skill == e.skill], e.timestamp)

    @handle.register
    def _(self, e: Peer.Deactivated, rows: Rows) -> None:
        pid = str_id(e.originator_id)
        close(rows.find(WantRow, "peer_id", pid, valid_to=None), e.timestamp)
        close([row for row in rows.find(EvidenceRow, "peer_id", pid, valid_to=None) if row.kind == DECLARED],
              e.timestamp)

    # --- the catalog and endorsements -----------------------------------------------------------
    @handle.register
    def _(self, e: SkillCatalog.AliasMerged, rows: Rows) -> None:
        name_skill(rows, e.alias_label, e.timestamp)
        name_skill(rows, e.into_label, e.timestamp)
        rows.put(SkillAliasRow, alias_key=e.alias_key, into_key=e.into_key, merged_at=e.timestamp,
                 merged_by=str_id(e.by))

    @handle.register
    def _(self, e: Endorsement.Given, rows: Rows) -> None:
        self._endorse(rows, e, str_id(e.endorser_id), str_id(e.endorsee_id))

    @handle.register
    def _(self, e: Endorsement.Revised, rows: Rows) -> None:
        last = rows.find(EndorsementRow, "endorsement_id", str_id(e.originator_id))[-1]
        self._end_endorsement(rows, e)
        self._endorse(rows, e, last.endorser_id, last.endorsee_id)

    @handle.register
    def _(self, e: Endorsement.Withdrawn, rows: Rows) -> None:
        self._end_endorsement(rows, e)

    @staticmethod
    def _endorse(rows: Rows, e, endorser: str, endorsee: str) -> None:
        name_skill(rows, e.skill, e.timestamp)
        rows.add(EndorsementRow, endorsement_id=str_id(e.originator_id), endorser_id=endorser, endorsee_id=endorsee,
                 skill_key=normalise_skill(e.skill), skill=e.skill, sentence=e.sentence,
                 valid_from=e.timestamp, valid_to=None)
        detail = f"endorsed by a peer who learned from them: \u201c{e.sentence}\u201d" if e.sentence \
            else "endorsed by a peer who learned from them"
        add_evidence(rows, endorsee, e.skill, ENDORSED, "endorsement", e.originator_id, detail,
                     ENDORSEMENT_WEIGHT, e.timestamp)

    @staticmethod
    def _end_endorsement(rows: Rows, e) -> None:
        close(rows.find(EndorsementRow, "endorsement_id", str_id(e.originator_id), valid_to=None), e.timestamp)
        end_evidence(rows, e.originator_id, e.timestamp)

    # --- talks: versions for the schedule as of, evidence for speakers and attendees ------------
    @handle.register
    def _(self, e: Talk.Proposed, rows: Rows) -> None:
        for topic in e.topics:
            name_skill(rows, topic, e.timestamp)
        rows.add(TalkVersionRow, talk_id=str_id(e.originator_id), speaker_id=str_id(e.speaker_id), title=e.title,
                 topics=",".join(e.topics), status="proposed", day=None, room_id=None, starts_at=None,
                 capacity=0, valid_from=e.timestamp, valid_to=None)

    @handle.register
    def _(self, e: Talk.Revised, rows: Rows) -> None:
        for topic in e.topics:
            name_skill(rows, topic, e.timestamp)
        self._version(rows, e, title=e.title, topics=",".join(e.topics))
        self._refresh_talk_evidence(rows, e)

    @handle.register(Talk.Scheduled)
    @handle.register(Talk.Rescheduled)
    def _(self, e, rows: Rows) -> None:
        self._version(rows, e, status="scheduled", day=e.day, room_id=e.room_id, starts_at=utc(e.starts_at),
                      capacity=e.capacity)

    @handle.register
    def _(self, e: Talk.Withdrawn, rows: Rows) -> None:
        self._version(rows, e, status="withdrawn")

    @handle.register
    def _(self, e: Talk.Cancelled, rows: Rows) -> None:
        self._version(rows, e, status="cancelled")

    @handle.register(Talk.SignedUp)
    @handle.register(Talk.Waitlisted)
    @handle.register(Talk.Promoted)
    @handle.register(Talk.SignUpCancelled)
    def _(self, e, rows: Rows) -> None:
        confirmed, waitlisted = seat_change(e)
        rows.add(SeatChangeRow, talk_id=str_id(e.originator_id), version=e.originator_version,
                 recorded_at=e.timestamp, confirmed=confirmed, waitlisted=waitlisted)

    @handle.register
    def _(self, e: Talk.AttendanceRecorded, rows: Rows) -> None:
        talk_id, peer_id = str_id(e.originator_id), str_id(e.peer_id)
        row = rows.get(TalkAttendeeRow, (talk_id, peer_id))
        if row is None:
            rows.add(TalkAttendeeRow, talk_id=talk_id, peer_id=peer_id, attended=e.attended, rating=None)
        else:
            row.attended = e.attended
        self._refresh_talk_evidence(rows, e, only=peer_id)

    @handle.register
    def _(self, e: Talk.FeedbackGiven, rows: Rows) -> None:
        peer_id = str_id(e.peer_id)
        rows.get(TalkAttendeeRow, (str_id(e.originator_id), peer_id)).rating = e.rating
        self._refresh_talk_evidence(rows, e, only=peer_id)

    @staticmethod
    def _current(rows: Rows, e) -> SimpleNamespace:
        [current] = rows.find(TalkVersionRow, "talk_id", str_id(e.originator_id), valid_to=None)
        return current

    _KEEP = ("talk_id", "speaker_id", "title", "topics", "status", "day", "room_id", "starts_at", "capacity")

    def _version(self, rows: Rows, e, **changes) -> None:
        """Close the talk's open version at the event and open the next one with ``changes``."""
        current = self._current(rows, e)
        current.valid_to = e.timestamp
        values = current.__dict__
        rows.add(TalkVersionRow, **({name: values[name] for name in self._KEEP} | changes),
                 valid_from=e.timestamp, valid_to=None)

    def _refresh_talk_evidence(self, rows: Rows, e, only: str | None = None) -> None:
        """Bring the talk's evidence (speaker's and attendees') in line with what its state now
        says: only the items that changed are closed and opened, the rest keep their history.

        ``only``: the one attendee whose attendance or rating changed; then only the speaker's
        items and that attendee's are compared (no other attendee's item can have changed).
        """
        talk = self._current(rows, e)
        attendees = {row.peer_id: row for row in rows.group(TalkAttendeeRow, talk.talk_id)}
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
        current = {(row.peer_id, row.skill, row.kind): row
                   for row in rows.find(EvidenceRow, "source_id", talk.talk_id, valid_to=None)
                   if row.source_type == "talk"}
        ended = []
        for key, row in current.items():
            if only is not None and key[2] == TALK_ATTENDED and key[0] != only:
                continue
            if wanted.get(key) == (row.weight, row.detail):
                del wanted[key]
            else:
                ended.append(row)
        close(ended, recorded)
        at = utc(talk.starts_at) or e.timestamp
        for (peer_id, topic, kind), (item_weight, detail) in wanted.items():
            add_evidence(rows, peer_id, topic, kind, "talk", talk.talk_id, detail, item_weight, at,
                         valid_from=recorded)

    # --- trades and mentoring: confirmed teaching is evidence for the teacher -------------------
    @handle.register
    def _(self, e: Trade.SessionConfirmed, rows: Rows) -> None:
        at = on_day(e.on)
        add_evidence(rows, e.teacher_id, e.topic, TRADE_TAUGHT, "trade", session_source_id(e.originator_id, e.number),
                     f"taught {e.topic} in a trade ({e.minutes} min, confirmed by the learner)",
                     TRADE_TAUGHT_PER_HOUR * e.minutes / 60, at, valid_from=effective_time(at, e.timestamp))

    @handle.register
    def _(self, e: Trade.SessionLogged, rows: Rows) -> None:
        if e.replaces:  # a correction supersedes the earlier session's evidence
            end_evidence(rows, session_source_id(e.originator_id, e.replaces), e.timestamp)

    @handle.register
    def _(self, e: Mentorship.ContactLogged, rows: Rows) -> None:
        at = on_day(e.on)
        for topic in e.topics:
            add_evidence(rows, e.mentor_id, topic, MENTORED, "mentoring", e.originator_id,
                         f"mentored {topic} ({e.kind}, {e.minutes} min)",
                         TRADE_TAUGHT_PER_HOUR * e.minutes / 60 / len(e.topics), at,
                         valid_from=effective_time(at, e.timestamp))


class _SeatChangesReplayer(Replayer):
    """The seat changes of a replay from zero, without ``Rows``: a list per talk, written talk by
    talk in key order. Most events of a busy log are sign-ups (86% of the events expertise handles
    in the bench history), and each only adds its row, which no other handler reads; the view's handlers take
    every other event in the same replay (a partial replayer). Tested against the handlers, as
    every replayer is."""

    partial = True

    def __init__(self) -> None:
        self.talks: dict[str, list[tuple]] = {}
        super().__init__({kind: self._change for kind in SEATS})

    def _change(self, e) -> None:
        talk = str_id(e.originator_id)
        confirmed, waitlisted = seat_change(e)
        row = (talk, e.originator_version, e.timestamp, confirmed, waitlisted)
        try:
            self.talks[talk].append(row)
        except KeyError:
            self.talks[talk] = [row]

    def tables(self):
        rows = (row for talk in sorted(self.talks) for row in self.talks[talk])
        return [(SeatChangeRow, self.in_column_order(
            SeatChangeRow, ("talk_id", "version", "recorded_at", "confirmed", "waitlisted"), rows))]


class _SeatChangesSql(sqlreplay.SqlReplayer):
    """The seat changes made in SQL from the log's seat events (``projections.sqlreplay``), one
    row an event as ``seat_change`` says; the view's handlers take its other events. Tested
    against live processing."""

    partial = True
    sql_kinds = sqlreplay.SEATS

    def sql(self, conn, log, upto) -> None:
        seats = sqlreplay.seats(conn, log, upto)
        conn.exec_driver_sql(f"""
            INSERT INTO {SeatChangeRow.__tablename__} (talk_id, version, recorded_at, confirmed, waitlisted)
            SELECT {sqlreplay.id_text('talk_hex')}, version, {sqlreplay.stamp_sql('ts', to_utc=False)},
                {sqlreplay.CONFIRMED_CHANGE}, {sqlreplay.WAITLISTED_CHANGE}
            FROM {seats} WHERE kind <= 4 ORDER BY talk_hex, version""")
