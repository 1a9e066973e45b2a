"""Notifications: an outbox of who must be told what (promoted from the waitlist, talk moved or
cancelled, reminder the day before). Rows have deterministic ids (event id + recipient) so a
rebuild produces the same outbox, and delivery (tracked separately) is never repeated."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.talk import Talk
from commonroom.projections import sqlreplay
from commonroom.projections.attendance import SignUpRow
from commonroom.projections.base import Base, Projection, Replayer, Rows, UTCDateTime, str_id


class NotificationRow(Base):
    __tablename__ = "notifications"
    __table_args__ = {"sqlite_with_rowid": False}  # (SQLite: no second copy of the key; see SignUpRow)
    id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    talk_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(20))  # promoted | moved | cancelled | reminder | signed_up
    message: Mapped[str] = mapped_column(sa.String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AudienceRow(Base):
    """Who is signed up (confirmed or waitlisted) to each talk: whom a change must reach."""

    __tablename__ = "notification_audience"
    __table_args__ = {"sqlite_with_rowid": False}  # (as above)
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    peer_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    confirmed: Mapped[bool]


class TalkTitleRow(Base):
    __tablename__ = "notification_talks"
    talk_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120))


class NotificationsView(Projection):
    name = "notifications"
    tables = [NotificationRow, AudienceRow, TalkTitleRow]
    batched = True

    def prefetch(self, events, rows: Rows) -> None:
        told = (Talk.Rescheduled, Talk.Cancelled, Talk.Reminded)
        rows.load(AudienceRow, {str_id(e.originator_id) for e in events if isinstance(e, told)})
        rows.load_keys(AudienceRow, {(str_id(e.originator_id), str_id(e.peer_id)) for e in events
                                     if isinstance(e, (Talk.SignedUp, Talk.Waitlisted, Talk.SignUpCancelled,
                                                       Talk.Promoted))})
        rows.load(TalkTitleRow, {str_id(e.originator_id) for e in events
                                 if isinstance(e, (*told, Talk.Promoted, Talk.Proposed, Talk.Revised))})
        # notification rows are only added (``rows.add``): none to read

    @singledispatchmethod
    def handle(self, event: object, rows: Rows) -> None:
        """Nobody needs telling."""

    @handle.register(Talk.Proposed)
    @handle.register(Talk.Revised)
    def _(self, e, rows: Rows) -> None:
        rows.put(TalkTitleRow, talk_id=str_id(e.originator_id), title=e.title)

    @handle.register
    def _(self, e: Talk.SignedUp, rows: Rows) -> None:
        rows.put(AudienceRow, talk_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), confirmed=True)

    @handle.register
    def _(self, e: Talk.Waitlisted, rows: Rows) -> None:
        rows.put(AudienceRow, talk_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), confirmed=False)

    @handle.register
    def _(self, e: Talk.SignUpCancelled, rows: Rows) -> None:
        rows.delete(AudienceRow, (str_id(e.originator_id), str_id(e.peer_id)))

    @handle.register
    def _(self, e: Talk.Promoted, rows: Rows) -> None:
        rows.put(AudienceRow, talk_id=str_id(e.originator_id), peer_id=str_id(e.peer_id), confirmed=True)
        self._tell(rows, e, [str_id(e.peer_id)])

    @handle.register(Talk.Rescheduled)
    @handle.register(Talk.Cancelled)
    def _(self, e, rows: Rows) -> None:
        self._tell(rows, e, self._audience(rows, e))

    @handle.register
    def _(self, e: Talk.Reminded, rows: Rows) -> None:
        self._tell(rows, e, self._audience(rows, e, confirmed_only=True))

    def replayer(self) -> Replayer | None:
        return _NotificationsReplayer().for_view(self)

    def sql_replayer(self) -> Replayer | None:
        return _NotificationsSql().for_view(self)

    @staticmethod
    def _audience(rows: Rows, e, confirmed_only: bool = False) -> list[str]:
        return sorted(row.peer_id for row in rows.group(AudienceRow, str_id(e.originator_id))
                      if row.confirmed or not confirmed_only)

    @staticmethod
    def _tell(rows: Rows, e, peer_ids: list[str]) -> None:
        title_row = rows.get(TalkTitleRow, str_id(e.originator_id))
        kind, message = told(e, title_row.title if title_row else None)
        for peer_id in peer_ids:
            rows.add(NotificationRow, id=notification_id(e, peer_id), peer_id=peer_id, talk_id=str_id(e.originator_id),
                     kind=kind, message=message, created_at=e.timestamp)


def told(e, title: str | None) -> tuple[str, str]:
    """The kind of notification ``e`` makes and its message, for the talk's title (``None``: not
    known). Written with f-strings: a cancel's reason used to go into a ``str.format`` template,
    so a reason with a brace in it raised there and stopped the view at that event."""
    if isinstance(e, Talk.Promoted):
        return promoted(title)
    title = title if title is not None else "a talk"
    if isinstance(e, Talk.Rescheduled):
        kind, message = "moved", f"“{title}” moved to {e.starts_at:%a %d %b %Y, %H:%M}. Your place is kept."
    elif isinstance(e, Talk.Cancelled):
        kind, message = "cancelled", f"“{title}” has been cancelled." + (f" Reason: {e.reason}" if e.reason else "")
    else:
        kind, message = "reminder", f"Reminder: “{title}” is tomorrow at lunchtime."
    return kind, message[:400]


def promoted(title: str | None) -> tuple[str, str]:
    """``told`` for a promotion (its message names only the talk)."""
    title = title if title is not None else "a talk"
    return "promoted", f"A seat came free: you moved up from the waitlist for “{title}”. See you there!"[:400]


def notification_id(e, peer_id: str) -> str:
    return f"{e.originator_id}:{e.originator_version}:{peer_id}"


class _NotificationsReplayer(Replayer):
    """``NotificationsView``'s handlers over dicts and lists, for a replay from zero (tested
    against the handlers on random histories, and with every view against live processing). Keep
    it in step with the handlers: ``NotificationsView.replayer`` falls back to them when they
    handle an event type this does not."""

    def __init__(self) -> None:
        self.audience: dict[str, dict[str, bool]] = {}  # talk -> peer -> confirmed
        self.titles: dict[str, str] = {}
        self.notifications: list[tuple] = []  # (id, peer_id, talk_id, kind, message, created_at)
        super().__init__({Talk.Proposed: self._title, Talk.Revised: self._title,
                          Talk.SignedUp: self._signed_up, Talk.Waitlisted: self._waitlisted,
                          Talk.SignUpCancelled: self._cancelled, Talk.Promoted: self._promoted,
                          Talk.Rescheduled: self._to_audience, Talk.Cancelled: self._to_audience,
                          Talk.Reminded: self._reminded})

    def tables(self):
        audience = ((talk, peer, confirmed) for talk, peers in self.audience.items()
                    for peer, confirmed in peers.items())
        return [(NotificationRow, self.in_column_order(
                    NotificationRow, ("id", "peer_id", "talk_id", "kind", "message", "created_at"), self.notifications)),
                (AudienceRow, self.in_column_order(AudienceRow, ("talk_id", "peer_id", "confirmed"), audience)),
                (TalkTitleRow, self.in_column_order(TalkTitleRow, ("talk_id", "title"), self.titles.items()))]

    def _title(self, e) -> None:
        self.titles[str_id(e.originator_id)] = e.title

    def _signed_up(self, e) -> None:
        self.audience.setdefault(str_id(e.originator_id), {})[str_id(e.peer_id)] = True

    def _waitlisted(self, e) -> None:
        self.audience.setdefault(str_id(e.originator_id), {})[str_id(e.peer_id)] = False

    def _cancelled(self, e) -> None:
        self.audience.get(str_id(e.originator_id), {}).pop(str_id(e.peer_id), None)

    def _promoted(self, e) -> None:
        peer = str_id(e.peer_id)
        self.audience.setdefault(str_id(e.originator_id), {})[peer] = True
        self._tell(e, [peer])

    def _to_audience(self, e) -> None:
        self._tell(e, sorted(self.audience.get(str_id(e.originator_id), {})))

    def _reminded(self, e) -> None:
        self._tell(e, sorted(peer for peer, confirmed in self.audience.get(str_id(e.originator_id), {}).items()
                             if confirmed))

    def _tell(self, e, peer_ids: list[str]) -> None:
        talk = str_id(e.originator_id)
        kind, message = told(e, self.titles.get(talk))
        for peer_id in peer_ids:
            self.notifications.append((notification_id(e, peer_id), peer_id, talk, kind, message, e.timestamp))


class _NotificationsSql(sqlreplay.SqlReplayer):
    """``NotificationsView``'s rows for a replay that takes the seat events from the log in SQL
    (``projections.sqlreplay``): the titles from the talks' events here, as the replayer above
    keeps them (and each title's version, to name the talk in a promotion as it was then); each
    move, cancel and reminder kept until the end, when SQL sends it to the talk's audience as of
    its version (those whose last seat event before it was not a cancel; a reminder only to the
    confirmed). The audience left at the end and the promotions' notifications from the seat
    events. Messages come from ``told``. Tested against live processing."""

    sql_kinds = sqlreplay.SEATS

    def __init__(self) -> None:
        self.titles: dict[str, str] = {}
        self.versions: list[tuple[str, int, str]] = []  # (talk hex, version, its promotions' message)
        self.told: list[tuple] = []  # (talk hex, version, talk id, kind, message, created_at, confirmed only)
        super().__init__({Talk.Proposed: self._title, Talk.Revised: self._title, Talk.Rescheduled: self._to_audience,
                          Talk.Cancelled: self._to_audience, Talk.Reminded: self._reminded})

    def tables(self):
        return [(TalkTitleRow, self.in_column_order(TalkTitleRow, ("talk_id", "title"), self.titles.items()))]

    def _title(self, e) -> None:
        self.titles[str_id(e.originator_id)] = e.title
        self.versions.append((e.originator_id.hex, e.originator_version, promoted(e.title)[1]))

    def _to_audience(self, e, confirmed_only: bool = False) -> None:
        talk = str_id(e.originator_id)
        kind, message = told(e, self.titles.get(talk))
        self.told.append((e.originator_id.hex, e.originator_version, talk, kind, message,
                          sqlreplay.stamp(e.timestamp, to_utc=True), confirmed_only))

    def _reminded(self, e) -> None:
        self._to_audience(e, confirmed_only=True)

    def sql(self, conn, log, upto) -> None:
        seats = sqlreplay.seats(conn, log, upto)
        talk, peer = sqlreplay.id_text("talk_hex"), sqlreplay.id_text("peer_hex")
        signups = sqlreplay.made(conn, log, upto, SignUpRow.__tablename__)
        if signups is not None:
            # this replay made attendance's rows first: the audience is every sign-up not
            # cancelled (the same last seat event per talk and peer), read in key order from
            # them instead of grouping the seat events again (1.12M events: 0.3 s against 2.0 s)
            conn.exec_driver_sql(f"""
                INSERT INTO {AudienceRow.__tablename__} (talk_id, peer_id, confirmed)
                SELECT talk_id, peer_id, status != 'waitlisted' FROM {signups} WHERE status != 'cancelled'""")
        else:
            conn.exec_driver_sql(f"""
                INSERT INTO {AudienceRow.__tablename__} (talk_id, peer_id, confirmed)
                SELECT {talk}, {peer}, status != 2 FROM (
                    SELECT talk_hex, peer_hex, {sqlreplay.LAST_STATUS} AS status FROM {seats}
                    WHERE kind <= 4 GROUP BY talk_hex, peer_hex)
                WHERE status != 4""")  # (in key order: GROUP BY's sort hands them over so; no second sort)
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.cr_titles")
        conn.exec_driver_sql("CREATE TEMP TABLE cr_titles (talk_hex TEXT, version INTEGER, message TEXT, "
                             "PRIMARY KEY (talk_hex, version))")
        if self.versions:
            conn.exec_driver_sql("INSERT INTO temp.cr_titles VALUES (?, ?, ?)", self.versions)  # (many rows)
        conn.exec_driver_sql(f"""
            INSERT INTO {NotificationRow.__tablename__} (id, peer_id, talk_id, kind, message, created_at)
            SELECT talk || ':' || version || ':' || peer, peer, talk, ?,
                coalesce((SELECT t.message FROM temp.cr_titles t WHERE t.talk_hex = p.talk_hex AND t.version < p.version
                          ORDER BY t.version DESC LIMIT 1), ?),
                created
            FROM (SELECT talk_hex, version, {talk} AS talk, {peer} AS peer,
                    {sqlreplay.stamp_sql('ts', to_utc=True)} AS created FROM {seats} WHERE kind = 3) AS p""",
                             promoted(None))
        if self.told:
            conn.exec_driver_sql("DROP TABLE IF EXISTS temp.cr_told")
            conn.exec_driver_sql("CREATE TEMP TABLE cr_told (talk_hex TEXT, version INTEGER, talk_id TEXT, kind TEXT, "
                                 "message TEXT, created_at TEXT, confirmed_only INTEGER)")
            conn.exec_driver_sql("INSERT INTO temp.cr_told VALUES (?, ?, ?, ?, ?, ?, ?)", self.told)
            # the seat events of the talks told something, by talk and version (a table of its
            # own: the seats table may be another process's too, ``sqlreplay.SharedSeats``)
            conn.exec_driver_sql("DROP TABLE IF EXISTS temp.cr_told_seats")
            conn.exec_driver_sql(f"CREATE TEMP TABLE cr_told_seats AS SELECT talk_hex, version, kind, peer_hex "
                                 f"FROM {seats} WHERE kind <= 4 AND talk_hex IN (SELECT talk_hex FROM temp.cr_told)")
            conn.exec_driver_sql("CREATE INDEX temp.cr_told_seats_by_talk ON cr_told_seats (talk_hex, version)")
            conn.exec_driver_sql(f"""
                INSERT INTO {NotificationRow.__tablename__} (id, peer_id, talk_id, kind, message, created_at)
                SELECT t.talk_id || ':' || t.version || ':' || {sqlreplay.id_text('a.peer_hex')},
                    {sqlreplay.id_text('a.peer_hex')}, t.talk_id, t.kind, t.message, t.created_at
                FROM temp.cr_told t JOIN (
                    SELECT t2.talk_hex, t2.version AS told, s.peer_hex,
                        max(s.version * 8 + s.kind) % 8 AS status
                    FROM temp.cr_told t2 JOIN temp.cr_told_seats s
                        ON s.talk_hex = t2.talk_hex AND s.version < t2.version
                    GROUP BY t2.talk_hex, t2.version, s.peer_hex) a ON a.talk_hex = t.talk_hex AND a.told = t.version
                WHERE a.status != 4 AND (t.confirmed_only = 0 OR a.status IN (1, 3))""")
            conn.exec_driver_sql("DROP TABLE temp.cr_told")
            conn.exec_driver_sql("DROP TABLE temp.cr_told_seats")
        conn.exec_driver_sql("DROP TABLE temp.cr_titles")
