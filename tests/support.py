"""Helpers shared by tests in every folder (import as ``from support import ...``)."""

from __future__ import annotations

from datetime import date, time, timedelta
from uuid import UUID


def next_weekday(days_ahead: int = 7) -> date:
    day = date.today() + timedelta(days=days_ahead)
    while day.weekday() > 4:
        day += timedelta(days=1)
    return day


def start_programme(services, organizer: UUID, rooms=(("Blue room", 5),), weekdays=(0, 1, 2, 3, 4)) -> None:
    """A running programme: every weekday from a year ago, the given rooms."""
    services.programme.start("Mini-scule", "Europe/London", time(12, 0), 30, by=organizer) \
        if services.programme.programme() is None else None
    services.programme.change(
        lambda p: p.change_weekdays(list(weekdays), date.today() - timedelta(days=365), by=organizer), by=organizer)
    for name, capacity in rooms:
        services.programme.change(lambda p, n=name, c=capacity: p.add_room(n, c, by=organizer), by=organizer)
    services.settle()


def my_scheduled_talk(app, auth, title: str, topic: str, day: date):
    """I register, become an organizer, run a programme with a 3-seat Blue room and schedule my
    talk ``title`` into it on ``day``. Returns (services, my peer id, the talk's id)."""
    services = app.extensions["commonroom"]
    auth.register()
    speaker = auth.peer_id()
    auth.make_organizer()
    start_programme(services, speaker, rooms=[("Blue room", 3)])
    talk_id, _ = services.talks.propose(speaker, title, "", [topic])
    services.settle(services.talks.schedule(talk_id, day, "blue-room", by=speaker))
    return services, speaker, talk_id


def join_in_browser(page, base: str, name: str) -> None:
    """Register ``name`` through the join form in a Playwright page and wait until signed in."""
    page.goto(f"{base}/register")
    page.fill("#f-name", name)
    page.fill("#f-email", f"{name.lower().split()[0]}@example.org")
    page.fill("#f-department", "Audit")
    page.fill("#f-password", "correct horse")
    page.get_by_role("button", name="Create my account").click()
    page.get_by_role("link", name=name).wait_for()
