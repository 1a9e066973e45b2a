"""Hostile text in every field people type that a page shows, rendered in real Chromium.

Each field gets one of four payloads behind a short tag (so each value is unique). Registration goes
through the form; everything else is written through the services (quicker), then every page that
shows it is opened in the browser: no payload runs (``window.__xss`` stays undefined, no element
carries an ``onerror``/``onload`` handler, no link points at ``javascript:``) and each value is
visible as literal text on at least one page.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from playwright.sync_api import expect

from commonroom.domain.programme import room_slug
from commonroom.platform.services import SYSTEM_ACTOR
from support import next_weekday, start_programme

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
SVG = '"><svg onload=window.__xss=1>'
JS_URL = "javascript:window.__xss=1"

FIELDS = {
    "name": f"Ada {SCRIPT}",
    "department": f"D {IMG}",
    "bob name": f"Bob {SVG}",
    "title": f"T1 {SCRIPT}",
    "abstract": f"A1 {IMG}",
    "abstract 2": f"A2 {JS_URL}",
    "topic": f"P1 {SVG}",
    "title 2": f"T2 {SVG}",
    "cancel reason": f"R {IMG}",
    "feedback comment": f"C {SCRIPT}",
    "skill offered": f"S1 {IMG}",
    "skill wanted": f"S2 {SVG}",
    "endorsement sentence": f"E {JS_URL}",
    "room": f"Room {IMG}",
    "day off reason": f"Off {SCRIPT}",
    "trade offer": f"O {SVG}",
    "trade want": f"W {IMG}",
    "trade message": f"M {SCRIPT}",
    "trade note": f"N {JS_URL}",
    "trade reflection": f"F {SVG}",
    "current position": f"CP {SVG}",
    "desired position": f"DP {IMG}",
    "mentoring name": f"MP {SVG}",
    "mentoring description": f"MD {SCRIPT}",
    "mentee goals": f"MG {IMG}",
    "contact note": f"CN {SVG}",
}


def register_in_the_browser(page, base: str) -> None:
    """First with a bad email, so the form comes back with the hostile values in its inputs."""
    page.goto(f"{base}/register")
    page.fill("#f-name", FIELDS["name"])
    page.fill("#f-email", SVG)
    page.fill("#f-department", FIELDS["department"])
    page.fill("#f-password", "correct horse")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#e-email")).to_be_visible()
    assert_nothing_ran(page, "the re-rendered registration form")
    assert [page.input_value(f"#f-{f}") for f in ("name", "email", "department")] == [
        FIELDS["name"], SVG, FIELDS["department"]]
    page.fill("#f-email", "ada@example.org")
    page.fill("#f-password", "correct horse")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("link", name=FIELDS["name"])).to_be_visible()


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#f-email", email)
    page.fill("#f-password", "correct horse")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)


def hostile_world(app, clock) -> dict:
    """Everything else Ada, Bob and Olga type, written through the services."""
    s = app.extensions["commonroom"]
    f = FIELDS
    ada = s.people.peer_id_for_email("ada@example.org")
    bob = s.people.register(f["bob name"], "bob@example.org", "Audit", "correct horse").peer_id
    olga = s.people.register("Olga", "olga@example.org", "Office", "correct horse").peer_id
    s.settle(s.people.grant_organizer(olga, by=SYSTEM_ACTOR))
    start_programme(s, olga, rooms=((f["room"], 5),))
    room = room_slug(f["room"])
    day, off = next_weekday(7), next_weekday(21)
    other_day = next_weekday((day - date.today()).days + 1)
    s.programme.change(lambda p: p.add_day_off(off, f["day off reason"], by=olga), by=olga)
    s.people.offer_skill(ada, f["skill offered"], by=ada)
    s.people.want_skill(ada, f["skill wanted"], by=ada)
    # a talk Bob comes to and rates, and one Ada cancels
    talk, _ = s.talks.propose(ada, f["title"], f"{f['abstract']}\n\n{f['abstract 2']}", f["topic"])
    s.talks.schedule(talk, day, room, by=ada)
    s.talks.sign_up(talk, bob)
    cancelled, _ = s.talks.propose(ada, f["title 2"], "", "audit")
    s.talks.schedule(cancelled, other_day, room, by=ada)
    s.talks.cancel(cancelled, f["cancel reason"], by=ada)
    clock.set(datetime.combine(day, time(14, 0), tzinfo=timezone.utc))
    s.talks.record_attendance(talk, {bob: True}, by=ada)
    s.talks.give_feedback(talk, bob, 5, f["feedback comment"])
    s.settle()
    s.directory.endorse(bob, ada, f["skill offered"], f["endorsement sentence"])
    # a trade, Ada's trading profile, and a mentorship
    trade, _ = s.trades.propose(ada, bob, f["trade offer"], f["trade want"], f["trade message"])
    s.trades.accept(trade, by=bob)
    s.trades.add_note(trade, f["trade note"], by=ada)
    s.trades.end(trade, f["trade reflection"], by=ada)
    s.trades.update_profile(ada, f["current position"], f["desired position"], False, 3)
    programme, _ = s.mentoring.start_programme(f["mentoring name"], f["mentoring description"], by=olga)
    s.mentoring.join_as_mentor(programme, bob, "Python", "", "English", "Europe/London", 2)
    s.mentoring.apply(programme, ada, "Write Python well", "Python", "", "English", "Europe/London")
    pair, _ = s.mentoring.pair(programme, bob, ada, by=olga)
    carl = s.people.register("Carl", "carl@example.org", "Audit", "correct horse").peer_id
    s.mentoring.apply(programme, carl, f["mentee goals"], "Python", "", "English", "Europe/London")
    s.settle()
    s.settle(s.mentoring.log_contact(pair, clock.now().date(), 30, "call",
                                     f["contact note"], by=ada))
    return {"ada": ada, "talk": talk, "cancelled": cancelled, "trade": trade, "programme": programme,
            "pair": pair, "week": day.isoformat()}


def shown_safely(page, url: str) -> str:
    """Open the page; nothing hostile ran or was built into the page; return its visible text."""
    page.goto(url)
    assert_nothing_ran(page, url)
    return page.inner_text("body")


def assert_nothing_ran(page, url: str) -> None:
    assert page.evaluate("window.__xss") is None, url
    assert page.locator("[onerror], [onload]").count() == 0, url
    assert page.locator("a[href^='javascript:' i], [src^='javascript:' i]").count() == 0, url


def test_hostile_text_in_every_shown_field_is_displayed_literally_and_never_runs(live_server, new_page,
                                                                                  clock):
    ada, olga = new_page(), new_page()
    base = live_server
    # given Ada registers with a hostile name and department, and the rest of the world is hostile too
    register_in_the_browser(ada, base)
    ids = hostile_world(live_server.app, clock)
    sign_in(olga, base, "olga@example.org")
    # when Ada and Olga open every page that shows what was typed
    ada_pages = [
        "/", "/me", f"/people/{ids['ada']}", f"/people/{ids['ada']}/history", "/directory?q=S1",
        f"/programme?week={ids['week']}&weeks=2", f"/talks/{ids['talk']}", f"/talks/{ids['cancelled']}",
        f"/talks/{ids['talk']}/history", "/talks/mine", "/trades", f"/trades/{ids['trade']}",
        "/trades/ledger",
        "/mentoring", f"/mentoring/{ids['programme']}", f"/mentoring/pairs/{ids['pair']}",
    ]
    olga_pages = ["/organize", f"/talks/{ids['talk']}", f"/mentoring/{ids['programme']}", "/mentoring/health",
                  "/graph", f"/people/{ids['ada']}"]
    seen = {url: shown_safely(ada, f"{base}{url}") for url in ada_pages}
    seen |= {f"organizer {url}": shown_safely(olga, f"{base}{url}") for url in olga_pages}
    # (the trading profile shows the positions only in its form, as the inputs' values)
    shown_safely(ada, f"{base}/trades/profile")
    values = ada.locator("input").evaluate_all("(inputs) => inputs.map(input => input.value)")
    seen["/trades/profile inputs"] = "\n".join(values)
    # then every hostile value is on some page as the literal text that was typed
    missing = [field for field, value in FIELDS.items() if not any(value in text for text in seen.values())]
    assert missing == [], missing
    # and the places people look first show them
    talk, organize = f"/talks/{ids['talk']}", "organizer /organize"
    for field, url in [("title", talk), ("topic", talk), ("cancel reason", f"/talks/{ids['cancelled']}"),
                       ("room", organize), ("day off reason", organize),
                       ("trade note", f"/trades/{ids['trade']}"),
                       ("endorsement sentence", f"/people/{ids['ada']}"), ("name", "/me")]:
        assert FIELDS[field] in seen[url], (field, url)
