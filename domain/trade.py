"""Trades of expertise between two peers, each peer's trading profile, and trade circles.

A trade is its own stream: proposed by A to B ("I offer X, I would like Y"; either side may be
empty for a one-sided offer), countered, accepted, declined, withdrawn, paused and resumed, ended
with a reflection from each side. Sessions are logged by one party and confirmed or disputed by
the other; only confirmed sessions count. A correction is a new session that supersedes the old
one: nothing is ever edited.
"""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from commonroom.domain.copying import FastCopy
from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, require_text

PROPOSED, ACTIVE, PAUSED = "proposed", "active", "paused"
DECLINED, WITHDRAWN, ENDED = "declined", "withdrawn", "ended"
PENDING, CONFIRMED, DISPUTED, SUPERSEDED = "pending", "confirmed", "disputed", "superseded"
MAX_SESSION_MINUTES = 600
DEFAULT_MAX_ACTIVE = 3


def validate_offer(offer: object, want: object) -> tuple[str, str]:
    offer = require_text("offer", offer or "", min_len=0, max_len=60)
    want = require_text("want", want or "", min_len=0, max_len=60)
    if not offer and not want:
        raise InvalidValue("offer", "say what you offer, what you would like, or both")
    return offer, want


def validate_session(topic: object, on: object, minutes: object) -> tuple[str, date, int]:
    topic = require_text("topic", topic, max_len=80)
    if not isinstance(on, date):
        raise InvalidValue("on", "date must be a date like 2026-12-01")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_SESSION_MINUTES:
        raise InvalidValue("minutes", f"minutes must be a whole number from 1 to {MAX_SESSION_MINUTES}")
    return topic, on, minutes


class Trade(FastCopy, Aggregate):
    @event("Offered")  # not "Proposed": a trade must never pass for a talk where event names are compared
    def __init__(self, proposer_id: UUID, partner_id: UUID, offer: str, want: str, message: str,
                 by: UUID) -> None:
        self.proposer_id, self.partner_id = proposer_id, partner_id
        self.offer, self.want, self.message = offer, want, message
        self.status = PROPOSED
        self.awaiting: UUID = partner_id  # who must answer the current proposal
        self.sessions: dict[str, dict] = {}  # session number -> {logged_by, teacher_id, ..., status}
        self.reflections: dict[str, str] = {}  # str(peer id) -> reflection
        self.notes = 0

    @staticmethod
    def propose(proposer_id: UUID, partner_id: UUID, offer: object, want: object,
                message: object = "") -> "Trade":
        offer, want = validate_offer(offer, want)
        message = require_text("message", message or "", min_len=0, max_len=1000)
        if proposer_id == partner_id:
            raise InvalidValue("partner", "a trade needs someone other than you")
        return Trade(proposer_id=proposer_id, partner_id=partner_id, offer=offer, want=want,
                     message=message, by=proposer_id)

    @property
    def parties(self) -> list[UUID]:
        return [self.proposer_id, self.partner_id]

    @property
    def one_sided(self) -> bool:
        return not self.offer or not self.want

    def other(self, peer_id: UUID) -> UUID:
        return self.partner_id if peer_id == self.proposer_id else self.proposer_id

    # --- agreeing -------------------------------------------------------------------------------
    def counter(self, want: object, by: UUID) -> None:
        """The partner proposes a different Y: what they would teach instead."""
        self.check_awaiting(by)
        if by != self.partner_id:
            raise NotAllowed("only the person the trade was offered to can counter it")
        _, want = validate_offer(self.offer or "-", want)
        if not want:
            raise InvalidValue("want", "say what you would teach instead")
        self._countered(want=want, by=by)

    @event("Countered")
    def _countered(self, want: str, by: UUID) -> None:
        self.want = want
        self.awaiting = self.proposer_id

    def accept(self, by: UUID) -> None:
        self.check_awaiting(by)
        self._accepted(by=by)

    @event("Accepted")
    def _accepted(self, by: UUID) -> None:
        self.status = ACTIVE

    def decline(self, reason: object, by: UUID) -> None:
        self.check_awaiting(by)
        reason = require_text("reason", reason or "", min_len=0, max_len=300)
        self._declined(reason=reason, by=by)

    @event("Declined")
    def _declined(self, reason: str, by: UUID) -> None:
        self.status = DECLINED

    def withdraw(self, by: UUID) -> None:
        self.check_party(by)
        if self.status != PROPOSED:
            raise TradeNotOpen(f"this trade is {self.status}; only an open proposal can be withdrawn")
        if by == self.awaiting:
            raise NotAllowed("decline the proposal instead of withdrawing it")
        self._withdrawn(by=by)

    @event("Withdrawn")
    def _withdrawn(self, by: UUID) -> None:
        self.status = WITHDRAWN

    # --- running --------------------------------------------------------------------------------
    def pause(self, by: UUID) -> None:
        self.check_party(by)
        self.check_status(ACTIVE, "paused")
        self._paused(by=by)

    @event("Paused")
    def _paused(self, by: UUID) -> None:
        self.status = PAUSED

    def resume(self, by: UUID) -> None:
        self.check_party(by)
        self.check_status(PAUSED, "resumed")
        self._resumed(by=by)

    @event("Resumed")
    def _resumed(self, by: UUID) -> None:
        self.status = ACTIVE

    def end(self, reflection: object, by: UUID) -> None:
        self.check_party(by)
        if self.status not in (ACTIVE, PAUSED):
            raise TradeNotOpen(f"this trade is {self.status}; only a running trade can be ended")
        reflection = require_text("reflection", reflection, min_len=3, max_len=1000)
        self._ended(reflection=reflection, by=by)

    @event("Ended")
    def _ended(self, reflection: str, by: UUID) -> None:
        self.status = ENDED
        self.reflections[str(by)] = reflection

    def reflect(self, reflection: object, by: UUID) -> None:
        """The other side's reflection, once the trade has ended."""
        self.check_party(by)
        self.check_status(ENDED, "reflected on")
        if str(by) in self.reflections:
            raise AlreadyReflected("you have already written your reflection")
        reflection = require_text("reflection", reflection, min_len=3, max_len=1000)
        self._reflected(reflection=reflection, by=by)

    @event("Reflected")
    def _reflected(self, reflection: str, by: UUID) -> None:
        self.reflections[str(by)] = reflection

    def add_note(self, text: object, by: UUID) -> None:
        """A confidential note: only the two parties ever see it."""
        self.check_party(by)
        text = require_text("note", text, max_len=2000)
        self._noted(text=text, by=by)

    @event("NoteAdded")
    def _noted(self, text: str, by: UUID) -> None:
        self.notes += 1

    # --- sessions -------------------------------------------------------------------------------
    def log_session(self, teacher_id: UUID, topic: object, on: object, minutes: object, by: UUID) -> str:
        self.check_party(by)
        if self.status != ACTIVE:
            raise TradeNotOpen(f"this trade is {self.status}; sessions are logged on an active trade")
        topic, on, minutes = self._check_session(teacher_id, topic, on, minutes)
        number = str(len(self.sessions) + 1)
        self._session_logged(number=number, teacher_id=teacher_id, learner_id=self.other(teacher_id),
                             topic=topic, on=on, minutes=minutes, replaces="", by=by)
        return number

    def _check_session(self, teacher_id: UUID, topic: object, on: object,
                       minutes: object) -> tuple[str, date, int]:
        if teacher_id not in self.parties:
            raise InvalidValue("teacher", "the teacher must be one of the two people in the trade")
        return validate_session(topic, on, minutes)

    @event("SessionLogged")
    def _session_logged(self, number: str, teacher_id: UUID, learner_id: UUID, topic: str, on: date,
                        minutes: int, replaces: str, by: UUID) -> None:
        if replaces:
            self.sessions[replaces]["status"] = SUPERSEDED
        self.sessions[number] = dict(logged_by=str(by), teacher_id=str(teacher_id),
                                     learner_id=str(learner_id),
                                     topic=topic, on=on.isoformat(), minutes=minutes, status=PENDING,
                                     replaces=replaces)

    def confirm_session(self, number: str, by: UUID) -> None:
        session = self._pending_for_other(number, by)
        self._session_confirmed(number=number, teacher_id=UUID(session["teacher_id"]),
                                learner_id=UUID(session["learner_id"]), topic=session["topic"],
                                on=date.fromisoformat(session["on"]), minutes=session["minutes"], by=by)

    @event("SessionConfirmed")
    def _session_confirmed(self, number: str, teacher_id: UUID, learner_id: UUID, topic: str, on: date,
                           minutes: int, by: UUID) -> None:
        self.sessions[number]["status"] = CONFIRMED

    def dispute_session(self, number: str, reason: object, by: UUID) -> None:
        self._pending_for_other(number, by)
        reason = require_text("reason", reason or "", min_len=0, max_len=300)
        self._session_disputed(number=number, reason=reason, by=by)

    @event("SessionDisputed")
    def _session_disputed(self, number: str, reason: str, by: UUID) -> None:
        self.sessions[number]["status"] = DISPUTED

    def correct_session(self, number: str, teacher_id: UUID, topic: object, on: object, minutes: object,
                        by: UUID) -> str:
        """Log a new session that supersedes ``number``; the other party confirms it afresh."""
        self.check_party(by)
        old = self.session(number)
        if old["status"] == SUPERSEDED:
            raise SessionClosed("that session has already been corrected")
        topic, on, minutes = self._check_session(teacher_id, topic, on, minutes)
        new_number = str(len(self.sessions) + 1)
        self._session_logged(number=new_number, teacher_id=teacher_id, learner_id=self.other(teacher_id),
                             topic=topic, on=on, minutes=minutes, replaces=number, by=by)
        return new_number

    def session(self, number: str) -> dict:
        session = self.sessions.get(str(number))
        if session is None:
            raise InvalidValue("session", "no such session on this trade")
        return session

    def _pending_for_other(self, number: str, by: UUID) -> dict:
        self.check_party(by)
        session = self.session(number)
        if session["status"] != PENDING:
            raise SessionClosed(f"that session is already {session['status']}")
        if session["logged_by"] == str(by):
            raise NotAllowed("the other person confirms or disputes a session you logged")
        return session

    # --- guards ---------------------------------------------------------------------------------
    def check_party(self, by: UUID) -> None:
        if by not in self.parties:
            raise NotAllowed("only the two people in this trade can do that")

    def check_awaiting(self, by: UUID) -> None:
        self.check_party(by)
        if self.status != PROPOSED:
            raise TradeNotOpen(f"this trade is {self.status}, not an open proposal")
        if by != self.awaiting:
            raise NotAllowed("the other person answers this proposal")

    def check_status(self, wanted: str, verb: str) -> None:
        if self.status != wanted:
            raise TradeNotOpen(f"this trade is {self.status}; only a {wanted} trade can be {verb}")


def session_source_id(trade_id: UUID | str, number: str) -> UUID:
    """A stable id for one session of a trade (what the graph and expertise cite as the source)."""
    return uuid5(NAMESPACE_URL, f"commonroom:trade:{trade_id}:session:{number}")


def trading_profile_id(peer_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"commonroom:trading-profile:{peer_id}")


class TradingProfile(FastCopy, Aggregate):
    """What matching needs to know about one peer beyond their skills (one per peer)."""

    @staticmethod
    def create_id(peer_id: UUID) -> UUID:
        return trading_profile_id(peer_id)

    @event("Started")
    def __init__(self, peer_id: UUID, by: UUID) -> None:
        self.peer_id = peer_id
        self.current_position, self.desired_position = "", ""
        self.opted_out = False
        self.max_active_trades = DEFAULT_MAX_ACTIVE

    def state_positions(self, current: object, desired: object, by: UUID) -> None:
        current = require_text("current_position", current or "", min_len=0, max_len=80)
        desired = require_text("desired_position", desired or "", min_len=0, max_len=80)
        if (current, desired) != (self.current_position, self.desired_position):
            self._positions_stated(current=current, desired=desired, by=by)

    @event("PositionsStated")
    def _positions_stated(self, current: str, desired: str, by: UUID) -> None:
        self.current_position, self.desired_position = current, desired

    def set_opted_out(self, opted_out: bool, by: UUID) -> None:
        if bool(opted_out) != self.opted_out:
            self._opt_out_changed(opted_out=bool(opted_out), by=by)

    @event("OptOutChanged")
    def _opt_out_changed(self, opted_out: bool, by: UUID) -> None:
        self.opted_out = opted_out

    def set_max_active_trades(self, limit: object, by: UUID) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 20:
            raise InvalidValue("max_active_trades",
                               "maximum active trades must be a whole number from 0 to 20")
        if limit != self.max_active_trades:
            self._max_active_set(limit=limit, by=by)

    @event("MaxActiveTradesSet")
    def _max_active_set(self, limit: int, by: UUID) -> None:
        self.max_active_trades = limit


class TradeCircle(FastCopy, Aggregate):
    """A cycle of 3 or 4 peers: members[i] teaches skills[i] to members[i+1] (the last to the first).

    It forms only when every member accepts; any member declining closes it.
    """

    @event("Suggested")
    def __init__(self, members: list[UUID], skills: list[str], by: UUID) -> None:
        self.members, self.skills = members, skills
        self.accepted: list[UUID] = []
        self.status = PROPOSED

    @staticmethod
    def propose(members: list[UUID], skills: list[str], by: UUID) -> "TradeCircle":
        if not 3 <= len(members) <= 4 or len(set(members)) != len(members):
            raise InvalidValue("members", "a circle has 3 or 4 different people")
        if len(skills) != len(members) or not all(isinstance(s, str) and s for s in skills):
            raise InvalidValue("skills", "each member teaches one skill to the next")
        if by not in members:
            raise NotAllowed("you can only propose a circle you are part of")
        return TradeCircle(members=list(members), skills=list(skills), by=by)

    def accept(self, by: UUID) -> None:
        self.check_member(by)
        if self.status != PROPOSED:
            raise TradeNotOpen(f"this circle is {self.status}")
        if by in self.accepted:
            return
        self._accepted(by=by)
        if len(self.accepted) == len(self.members):
            self._formed(by=by)

    @event("Accepted")
    def _accepted(self, by: UUID) -> None:
        self.accepted.append(by)

    @event("Formed")
    def _formed(self, by: UUID) -> None:
        self.status = ACTIVE

    def decline(self, reason: object, by: UUID) -> None:
        self.check_member(by)
        if self.status != PROPOSED:
            raise TradeNotOpen(f"this circle is {self.status}")
        reason = require_text("reason", reason or "", min_len=0, max_len=300)
        self._declined(reason=reason, by=by)

    @event("Declined")
    def _declined(self, reason: str, by: UUID) -> None:
        self.status = DECLINED

    def check_member(self, by: UUID) -> None:
        if by not in self.members:
            raise NotAllowed("only the members of this circle can answer it")


class TradeNotOpen(DomainError):
    pass


class SessionClosed(DomainError):
    pass


class AlreadyReflected(DomainError):
    pass
