"""Givens for the directory, graph and time-travel tests: peers in departments, talks held in the past."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import UUID, uuid4

from commonroom.domain.lunchday import SlotTaken
from commonroom.domain.peer import EmailClaim, Peer
from commonroom.platform.services import SYSTEM_ACTOR
from support import start_programme


def a_peer(services, name: str, department: str = "Audit", offers=(), wants=()) -> UUID:
    """A peer on record (saved straight to the store: no password hashing) with skills."""
    peer_id = uuid4()
    email = f"{name.split()[0].lower()}.{peer_id.hex[:6]}@example.org"
    services.store.save(
        Peer(id=peer_id, name=name, email=email, department=department, timezone="Europe/London",
             password_hash="", by=peer_id),
        EmailClaim(email=email, peer_id=peer_id, by=peer_id))
    for skill in offers:
        services.people.offer_skill(peer_id, skill, by=peer_id)
    for skill in wants:
        services.people.want_skill(peer_id, skill, by=peer_id)
    return peer_id


def an_organizer(services) -> UUID:
    organizer = a_peer(services, "Olive Organizer", "Operations")
    services.people.grant_organizer(organizer, by=SYSTEM_ACTOR)
    start_programme(services, organizer, rooms=(("Great hall", 50),))
    return organizer


def weekday_days_ago(days_ago: int) -> date:
    day = date.today() - timedelta(days=days_ago)
    while day.weekday() > 4:
        day -= timedelta(days=1)
    return day


def a_talk_held(services, clock, speaker: UUID, topics: list[str], attendees=(), ratings=(),
                days_ago: int = 10, title: str | None = None) -> UUID:
    """A talk proposed, scheduled and held ``days_ago`` days ago; ``attendees`` came (and rated it
    with ``ratings``, in order). Leaves the clock at real time."""
    day = weekday_days_ago(days_ago)
    clock.set(datetime.combine(day - timedelta(days=10), datetime.min.time(), tzinfo=timezone.utc))
    talk_id, _ = services.talks.propose(speaker, title or f"All about {topics[0]}", "", topics)
    while True:  # one talk per lunch: the first free weekday at or before the one asked for
        try:
            services.talks.schedule(talk_id, day, "great-hall", by=speaker)
            break
        except SlotTaken:
            day = weekday_days_ago((date.today() - day).days + 1)
    for peer in attendees:
        services.talks.sign_up(talk_id, peer)
    clock.set(datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=14))
    if attendees:
        services.talks.record_attendance(talk_id, {peer: True for peer in attendees}, by=speaker)
    for peer, rating in zip(attendees, ratings):
        services.talks.give_feedback(talk_id, peer, rating, "")
    clock.fixed = None
    services.settle()
    return talk_id
