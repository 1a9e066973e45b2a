"""Givens shared by the core integration tests: people, a running programme, scheduled talks, rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.orm import Session

from commonroom.domain.peer import EmailClaim, Peer
from commonroom.platform.services import SYSTEM_ACTOR
from support import next_weekday, start_programme

PASSWORD = "correct horse"


def a_peer(services, name: str = "Ada Lovelace", email: str | None = None) -> UUID:
    """A peer on record with a claimed email. Saved straight to the store: hashing a password per
    given costs a tenth of a second; registration itself is tested through the service."""
    email = email or f"{name.split()[0].lower()}@example.org"
    peer_id = uuid4()
    services.store.save(
        Peer(id=peer_id, name=name, email=email, department="Audit", timezone="Europe/London", password_hash="",
             by=peer_id),
        EmailClaim(email=email, peer_id=peer_id, by=peer_id))
    return peer_id


def weekday_after(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() > 4:
        day += timedelta(days=1)
    return day


def an_organizer(services, rooms=(("Blue room", 5), ("Great hall", 50)), weekdays=(0, 1, 2, 3, 4)) -> UUID:
    """A registered organizer and a running programme with the given rooms."""
    organizer = a_peer(services, "Olive Organizer")
    services.people.grant_organizer(organizer, by=SYSTEM_ACTOR)
    start_programme(services, organizer, rooms=rooms, weekdays=weekdays)
    return organizer


def a_scheduled_talk(services, speaker: UUID, room: str = "blue-room", days_ahead: int = 7,
                     title: str = "Event sourcing") -> UUID:
    talk_id, _ = services.talks.propose(speaker, title, "An abstract", ["python"])
    services.talks.schedule(talk_id, next_weekday(days_ahead), room, by=speaker)
    return talk_id


def rows(services, table, *where, order_by=None, settle: bool = True) -> list:
    """The rows of one read-model table (settled first unless told not to), as ORM objects."""
    query = sa.select(table).where(*where)
    if order_by is not None:
        query = query.order_by(order_by)
    if settle:
        services.settle()
    with Session(services.engine, expire_on_commit=False) as s:
        return list(s.scalars(query))


def all_at_once(actions: list[Callable[[], object]], barrier=None) -> list[str]:
    """Run each action in its own thread, released together by ``barrier`` (one for just these
    threads unless given, e.g. a multiprocessing one shared with another process). Returns the
    errors any action raised, as text."""
    barrier = barrier or threading.Barrier(len(actions))
    errors: list[str] = []

    def run(action: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=60)
            action()
        except Exception as error:  # noqa: BLE001 - returned to the test, which asserts on it
            errors.append(repr(error))

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
