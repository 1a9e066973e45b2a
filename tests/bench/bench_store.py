"""In-process measurements: commands, projections and live lag, each beside its raw ceiling."""

from __future__ import annotations

import statistics
import time
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper

from commonroom.platform.bootstrap import Commonroom, bootstrap
from commonroom.platform.rebuild import rebuild
from commonroom.projections.runner import collector_paused
from commonroom.projections.attendance import SignUpRow


class Poke(Aggregate):
    """The ceiling's aggregate: nothing to decide, one small event."""

    @event("Poked")
    def __init__(self, n: int) -> None:
        self.n = n


def signups_per_second(app: Commonroom, pairs: list[tuple[UUID, UUID]]) -> float:
    """``services.talks.sign_up`` in a loop, each a fresh (talk, peer); read models not waited for."""
    started = time.perf_counter()
    for talk_id, peer_id in pairs:
        app.talks.sign_up(talk_id, peer_id)
    return len(pairs) / (time.perf_counter() - started)


def raw_saves_per_second(app: Commonroom, n: int) -> float:
    """The same Application, recorder and database: one new bare aggregate (one event) per save."""
    started = time.perf_counter()
    for i in range(n):
        app.store.save(Poke(n=i))
    return n / (time.perf_counter() - started)


def delete_pokes(app: Commonroom) -> None:
    """The ceiling's events are not Commonroom's: take them out of the log again (and its views'
    tracking does not care: unknown events are skipped, gaps in ids are normal)."""
    topic = f"{Poke.__module__}:Poke%"
    table = app.store.recorder.events_table_name
    with app.store.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE topic LIKE '{topic}'")  # noqa: S608 - our own names


def rebuild_per_second(app: Commonroom, one_process: bool = False) -> tuple[float, int]:
    """A rebuild of every view as ``commonroom projections rebuild`` runs it (on SQLite, half of
    the views in a second process), or all in this process (``one_process``)."""
    started = time.perf_counter()
    read = app.projector.rebuild() if one_process else rebuild(app)
    return read / (time.perf_counter() - started), read


def read_and_decode_per_second(app: Commonroom, page: int = 5000) -> tuple[float, int]:
    """The ceiling of a rebuild: page through the notification log and decode every event, as the
    rebuild reads it (``EventStore.read_events``, pages of the rebuild's batch size, the cycle
    collector paused as in a replay)."""
    with collector_paused():
        started, start, read = time.perf_counter(), 1, 0
        while True:
            events = app.store.read_events(start, page)
            read += len(events)
            if len(events) < page:
                break
            start = events[-1][0] + 1
        return read / (time.perf_counter() - started), read


def stock_read_and_decode_per_second(app: Commonroom, page: int = 5000) -> tuple[float, int]:
    """The same through eventsourcing's own parts: the recorder's ``select_notifications`` and a
    stock ``Mapper`` (with the app's transcoder)."""
    recorder, mapper = app.store.recorder, Mapper(transcoder=app.store.mapper.transcoder)
    with collector_paused():
        started, start, read = time.perf_counter(), 1, 0
        while True:
            notifications = recorder.select_notifications(start=start, limit=page)
            for n in notifications:
                mapper.to_domain_event(n)
            read += len(notifications)
            if len(notifications) < page:
                break
            start = notifications[-1].id + 1
        return read / (time.perf_counter() - started), read


def live_lag_ms(writer: Commonroom, reader: Commonroom, pairs: list[tuple[UUID, UUID]],
                gap: float = 0.02) -> list[float]:
    """Milliseconds from a sign-up's save returning to its row being visible in the attendance view.

    ``reader`` follows the log (``start_following``): on SQLite it is ``writer`` itself (woken
    in-process), on PostgreSQL a separate container woken by LISTEN/NOTIFY.
    """
    lags = []
    query = sa.select(sa.func.count()).select_from(SignUpRow).where(SignUpRow.talk_id == sa.bindparam("t"),
                                                                    SignUpRow.peer_id == sa.bindparam("p"))
    with reader.engine.connect() as c:
        for talk_id, peer_id in pairs:
            writer.talks.sign_up(talk_id, peer_id)
            saved = time.perf_counter()
            while True:
                c.rollback()  # a fresh snapshot each poll
                if c.execute(query, {"t": str(talk_id), "p": str(peer_id)}).scalar():
                    break
                if time.perf_counter() - saved > 5:
                    break
                time.sleep(0.0002)
            lags.append((time.perf_counter() - saved) * 1000)
            time.sleep(gap)
    return lags


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def following_pair(url: str, is_sqlite: bool) -> tuple[Commonroom, Commonroom]:
    """(writer, reader) for the lag measurement; see ``live_lag_ms``."""
    reader = bootstrap(url, inline_projections=False)
    reader.projector.catch_up()  # no backlog: the lag is one command's, not the earlier benchmarks'
    reader.start_following()
    if is_sqlite:
        return reader, reader
    return bootstrap(url, inline_projections=False), reader


def signups_recorded(url: str, peers: list[UUID], timeout: float = 60) -> int:
    """How many sign-ups of these peers the attendance view holds (checks that POSTs did sign up),
    once the views have caught up with the log (the projection worker may still be a batch behind)."""
    app = bootstrap(url, inline_projections=False)
    try:
        app.projector.wait_for(app.projector.head(), timeout=timeout)
        with app.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(SignUpRow).where(
                SignUpRow.peer_id.in_([str(p) for p in peers]), SignUpRow.status != "cancelled")).scalar()
    finally:
        app.close()
