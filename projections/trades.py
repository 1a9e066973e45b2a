"""Trades read model: the trades, their sessions, confidential notes, reflections, trading profiles
and trade circles; plus the read-side queries the pages and API share (ledger, lists).

Notes are stored here but only ever read through ``notes_for(trade, viewer)``, which returns
nothing unless the viewer is one of the trade's two parties.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import singledispatchmethod
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.trade import Trade, TradeCircle, TradingProfile
from commonroom.projections.base import Base, Projection, Rows, str_id
from commonroom.projections.people import PeerRow

LEDGER_WINDOW_DAYS = 90
IMBALANCE_RATIO, IMBALANCE_MINUTES = 2, 120


class TradeRow(Base):
    __tablename__ = "trades"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    proposer_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    partner_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    offer: Mapped[str] = mapped_column(sa.String(60))
    want: Mapped[str] = mapped_column(sa.String(60))
    message: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(12), index=True)
    awaiting_id: Mapped[str] = mapped_column(sa.String(36))
    countered: Mapped[bool] = mapped_column(default=False)
    decline_reason: Mapped[str] = mapped_column(sa.String(300), default="")
    proposed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class TradeSessionRow(Base):
    __tablename__ = "trade_sessions"
    trade_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    teacher_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    learner_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    logged_by: Mapped[str] = mapped_column(sa.String(36))
    topic: Mapped[str] = mapped_column(sa.String(80))
    on: Mapped[date] = mapped_column(sa.Date)
    minutes: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(12))
    replaces: Mapped[str] = mapped_column(sa.String(8), default="")
    dispute_reason: Mapped[str] = mapped_column(sa.String(300), default="")


class TradeNoteRow(Base):
    __tablename__ = "trade_notes"
    event_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)  # trade id + version
    trade_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    author_id: Mapped[str] = mapped_column(sa.String(36))
    text: Mapped[str] = mapped_column(sa.Text)
    written_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class TradeReflectionRow(Base):
    __tablename__ = "trade_reflections"
    trade_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    text: Mapped[str] = mapped_column(sa.Text)


class TradingProfileRow(Base):
    __tablename__ = "trading_profiles"
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    profile_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    current_position: Mapped[str] = mapped_column(sa.String(80), default="")
    desired_position: Mapped[str] = mapped_column(sa.String(80), default="")
    opted_out: Mapped[bool] = mapped_column(default=False)
    max_active_trades: Mapped[int] = mapped_column(default=3)


class CircleMemberRow(Base):
    __tablename__ = "trade_circle_members"
    circle_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    teaches: Mapped[str] = mapped_column(sa.String(60))  # to the next member
    accepted: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(12))  # the circle's status


class TradesView(Projection):
    name = "trades"
    tables = [TradeRow, TradeSessionRow, TradeNoteRow, TradeReflectionRow, TradingProfileRow, CircleMemberRow]
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        trades = {str_id(e.originator_id) for e in events if isinstance(e, Trade.Event)}
        rows.load(TradeRow, trades)
        rows.load(TradeSessionRow, {str_id(e.originator_id) for e in events if isinstance(e, (
            Trade.SessionLogged, Trade.SessionConfirmed, Trade.SessionDisputed))})
        rows.load(TradeReflectionRow, {str_id(e.originator_id) for e in events
                                       if isinstance(e, (Trade.Ended, Trade.Reflected))})
        rows.load(TradingProfileRow, {str_id(e.peer_id) for e in events if isinstance(e, TradingProfile.Started)})
        rows.load_by(TradingProfileRow, "profile_id", {str_id(e.originator_id) for e in events
                                                       if isinstance(e, TradingProfile.Event)})
        rows.load(CircleMemberRow, {str_id(e.originator_id) for e in events if isinstance(e, TradeCircle.Event)})
        # notes are only added (``rows.add``): none to read

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Not a trade event."""

    @handle.register
    def _(self, e: Trade.Offered, rows: Rows) -> None:
        rows.put(TradeRow,
                 id=str_id(e.originator_id), proposer_id=str_id(e.proposer_id), partner_id=str_id(e.partner_id),
                 offer=e.offer, want=e.want, message=e.message, status="proposed", awaiting_id=str_id(e.partner_id),
                 countered=False, decline_reason="", proposed_at=e.timestamp, updated_at=e.timestamp)

    @staticmethod
    def _trade(rows: Rows, e):
        row = rows.get(TradeRow, str_id(e.originator_id))
        row.updated_at = e.timestamp
        return row

    @handle.register
    def _(self, e: Trade.Countered, rows: Rows) -> None:
        row = self._trade(rows, e)
        row.want, row.countered, row.awaiting_id = e.want, True, row.proposer_id

    @handle.register
    def _(self, e: Trade.Accepted, rows: Rows) -> None:
        self._trade(rows, e).status = "active"

    @handle.register
    def _(self, e: Trade.Declined, rows: Rows) -> None:
        row = self._trade(rows, e)
        row.status, row.decline_reason = "declined", e.reason

    @handle.register
    def _(self, e: Trade.Withdrawn, rows: Rows) -> None:
        self._trade(rows, e).status = "withdrawn"

    @handle.register
    def _(self, e: Trade.Paused, rows: Rows) -> None:
        self._trade(rows, e).status = "paused"

    @handle.register
    def _(self, e: Trade.Resumed, rows: Rows) -> None:
        self._trade(rows, e).status = "active"

    @handle.register
    def _(self, e: Trade.Ended, rows: Rows) -> None:
        self._trade(rows, e).status = "ended"
        rows.put(TradeReflectionRow, trade_id=str_id(e.originator_id), peer_id=str_id(e.by), text=e.reflection)

    @handle.register
    def _(self, e: Trade.Reflected, rows: Rows) -> None:
        rows.put(TradeReflectionRow, trade_id=str_id(e.originator_id), peer_id=str_id(e.by), text=e.reflection)

    @handle.register
    def _(self, e: Trade.NoteAdded, rows: Rows) -> None:
        rows.add(TradeNoteRow, event_id=f"{e.originator_id}:{e.originator_version}", trade_id=str_id(e.originator_id),
                 author_id=str_id(e.by), text=e.text, written_at=e.timestamp)

    @handle.register
    def _(self, e: Trade.SessionLogged, rows: Rows) -> None:
        if e.replaces:
            rows.get(TradeSessionRow, (str_id(e.originator_id), e.replaces)).status = "superseded"
        rows.put(TradeSessionRow,
                 trade_id=str_id(e.originator_id), number=e.number, teacher_id=str_id(e.teacher_id),
                 learner_id=str_id(e.learner_id), logged_by=str_id(e.by), topic=e.topic, on=e.on, minutes=e.minutes,
                 status="pending", replaces=e.replaces, dispute_reason="")

    @handle.register
    def _(self, e: Trade.SessionConfirmed, rows: Rows) -> None:
        rows.get(TradeSessionRow, (str_id(e.originator_id), e.number)).status = "confirmed"

    @handle.register
    def _(self, e: Trade.SessionDisputed, rows: Rows) -> None:
        row = rows.get(TradeSessionRow, (str_id(e.originator_id), e.number))
        row.status, row.dispute_reason = "disputed", e.reason

    # --- trading profiles -------------------------------------------------------------------------
    @handle.register
    def _(self, e: TradingProfile.Started, rows: Rows) -> None:
        rows.put(TradingProfileRow, peer_id=str_id(e.peer_id), profile_id=str_id(e.originator_id), current_position="",
                 desired_position="", opted_out=False, max_active_trades=3)

    @staticmethod
    def _profile_of(rows: Rows, e):
        [row] = rows.find(TradingProfileRow, "profile_id", str_id(e.originator_id))
        return row

    @handle.register
    def _(self, e: TradingProfile.PositionsStated, rows: Rows) -> None:
        row = self._profile_of(rows, e)
        row.current_position, row.desired_position = e.current, e.desired

    @handle.register
    def _(self, e: TradingProfile.OptOutChanged, rows: Rows) -> None:
        self._profile_of(rows, e).opted_out = e.opted_out

    @handle.register
    def _(self, e: TradingProfile.MaxActiveTradesSet, rows: Rows) -> None:
        self._profile_of(rows, e).max_active_trades = e.limit

    # --- circles ----------------------------------------------------------------------------------
    @handle.register
    def _(self, e: TradeCircle.Suggested, rows: Rows) -> None:
        for position, (member, skill) in enumerate(zip(e.members, e.skills)):
            rows.put(CircleMemberRow, circle_id=str_id(e.originator_id), position=position, peer_id=str_id(member),
                     teaches=skill, accepted=False, status="proposed")

    @handle.register
    def _(self, e: TradeCircle.Accepted, rows: Rows) -> None:
        for row in rows.group(CircleMemberRow, str_id(e.originator_id)):
            if row.peer_id == str_id(e.by):
                row.accepted = True

    @handle.register
    def _(self, e: TradeCircle.Formed, rows: Rows) -> None:
        for row in rows.group(CircleMemberRow, str_id(e.originator_id)):
            row.status = "active"

    @handle.register
    def _(self, e: TradeCircle.Declined, rows: Rows) -> None:
        for row in rows.group(CircleMemberRow, str_id(e.originator_id)):
            row.status = "declined"


# --- read-side queries ----------------------------------------------------------------------------
def trade(engine: sa.Engine, trade_id: UUID | str) -> TradeRow | None:
    with engine.connect() as c:
        return c.execute(sa.select(TradeRow).where(TradeRow.id == str(trade_id))).first()


def trades_of(engine: sa.Engine, peer_id: UUID) -> list:
    me = str(peer_id)
    with engine.connect() as c:
        return c.execute(
            sa.select(TradeRow).where(sa.or_(TradeRow.proposer_id == me, TradeRow.partner_id == me))
            .order_by(TradeRow.updated_at.desc())
        ).all()


def is_party(row, viewer: UUID | str | None) -> bool:
    return row is not None and viewer is not None and str(viewer) in (row.proposer_id, row.partner_id)


def notes_for(engine: sa.Engine, row, viewer: UUID | str | None) -> list:
    """Confidential notes: the two parties see them; everyone else (organizers too) sees nothing."""
    if not is_party(row, viewer):
        return []
    with engine.connect() as c:
        return c.execute(sa.select(TradeNoteRow).where(TradeNoteRow.trade_id == row.id)
                         .order_by(TradeNoteRow.written_at, TradeNoteRow.event_id)).all()


def sessions_of(engine: sa.Engine, trade_id: str) -> list:
    with engine.connect() as c:
        return c.execute(sa.select(TradeSessionRow).where(TradeSessionRow.trade_id == str(trade_id))
                         .order_by(TradeSessionRow.on, TradeSessionRow.number)).all()


def reflections_of(engine: sa.Engine, trade_id: str) -> dict[str, str]:
    with engine.connect() as c:
        rows = c.execute(sa.select(TradeReflectionRow)
                         .where(TradeReflectionRow.trade_id == str(trade_id))).all()
    return {r.peer_id: r.text for r in rows}


def names(engine: sa.Engine, ids) -> dict[str, str]:
    ids = {str(i) for i in ids}
    if not ids:
        return {}
    with engine.connect() as c:
        return dict(c.execute(sa.select(PeerRow.id, PeerRow.name).where(PeerRow.id.in_(ids))).all())


def profile(engine: sa.Engine, peer_id: UUID) -> TradingProfileRow | None:
    with engine.connect() as c:
        return c.execute(sa.select(TradingProfileRow)
                         .where(TradingProfileRow.peer_id == str(peer_id))).first()


def circles_of(engine: sa.Engine, peer_id: UUID) -> dict[str, list]:
    with engine.connect() as c:
        mine = sa.select(CircleMemberRow.circle_id).where(CircleMemberRow.peer_id == str(peer_id))
        rows = c.execute(sa.select(CircleMemberRow).where(CircleMemberRow.circle_id.in_(mine))
                         .order_by(CircleMemberRow.circle_id, CircleMemberRow.position)).all()
    circles: dict[str, list] = defaultdict(list)
    for row in rows:
        circles[row.circle_id].append(row)
    return dict(circles)


@dataclass
class Ledger:
    """Confirmed minutes for one peer: given (taught) and received (learned)."""

    given: int = 0
    received: int = 0
    given_90: int = 0
    received_90: int = 0
    given_by_skill: dict[str, int] = field(default_factory=dict)
    received_by_skill: dict[str, int] = field(default_factory=dict)
    per_trade: dict[str, dict[str, int]] = field(default_factory=dict)  # trade id -> {given, received}

    @property
    def balance(self) -> int:
        return self.given - self.received

    @property
    def lopsided(self) -> bool:
        """Received much more than given: worth a gentle prompt, never a penalty."""
        gap = self.received - self.given
        return gap >= IMBALANCE_MINUTES and self.received >= IMBALANCE_RATIO * self.given


def ledger(engine: sa.Engine, peer_id: UUID | str, today: date) -> Ledger:
    me = str(peer_id)
    since = today - timedelta(days=LEDGER_WINDOW_DAYS)
    with engine.connect() as c:
        rows = c.execute(sa.select(TradeSessionRow).where(
            TradeSessionRow.status == "confirmed",
            sa.or_(TradeSessionRow.teacher_id == me, TradeSessionRow.learner_id == me))).all()
    result = Ledger()
    for row in rows:
        gave = row.teacher_id == me
        side = "given" if gave else "received"
        setattr(result, side, getattr(result, side) + row.minutes)
        if row.on >= since:
            setattr(result, side + "_90", getattr(result, side + "_90") + row.minutes)
        by_skill = result.given_by_skill if gave else result.received_by_skill
        by_skill[row.topic] = by_skill.get(row.topic, 0) + row.minutes
        per_trade = result.per_trade.setdefault(row.trade_id, {"given": 0, "received": 0})
        per_trade[side] += row.minutes
    return result


def balances(engine: sa.Engine) -> dict[str, int]:
    """Every peer's confirmed minutes given minus received (for ranking suggestions)."""
    with engine.connect() as c:
        rows = c.execute(sa.select(TradeSessionRow.teacher_id, TradeSessionRow.learner_id,
                                   TradeSessionRow.minutes)
                         .where(TradeSessionRow.status == "confirmed")).all()
    result: dict[str, int] = defaultdict(int)
    for teacher, learner, minutes in rows:
        result[teacher] += minutes
        result[learner] -= minutes
    return dict(result)


def active_trade_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as c:
        rows = c.execute(sa.select(TradeRow.proposer_id, TradeRow.partner_id)
                         .where(TradeRow.status.in_(["active", "paused"]))).all()
    counts: dict[str, int] = defaultdict(int)
    for a, b in rows:
        counts[a] += 1
        counts[b] += 1
    return dict(counts)
