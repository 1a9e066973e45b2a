"""The lunch talk's whole life in a real browser: a speaker schedules a talk into a one-seat room,
one colleague takes the seat, another waits, and a cancellation promotes the one waiting."""

from __future__ import annotations

from playwright.sync_api import expect

from commonroom.platform.services import SYSTEM_ACTOR
from support import join_in_browser, next_weekday, start_programme


def an_organizer_runs_a_one_seat_programme(app) -> None:
    services = app.extensions["commonroom"]
    olga = services.people.register("Olga Organizer", "olga@example.org", "Office", "correct horse").peer_id
    services.settle(services.people.grant_organizer(olga, by=SYSTEM_ACTOR))
    start_programme(services, olga, rooms=(("Blue room", 1),))


def test_a_talk_is_scheduled_filled_waitlisted_and_the_waiting_colleague_is_promoted(live_server, new_page):
    an_organizer_runs_a_one_seat_programme(live_server.app)
    sam, bea, wes = new_page(), new_page(), new_page()
    day = next_weekday(7)

    # given Sam joins, proposes a talk and schedules it into a free slot
    join_in_browser(sam, live_server, "Sam Speaker")
    sam.goto(f"{live_server}/talks/new")
    sam.fill("#f-title", "Bayesian audits")
    sam.fill("#f-abstract", "Priors for the sceptical.")
    sam.fill("#f-topics", "statistics, audit")
    sam.get_by_role("button", name="Propose").click()
    expect(sam.locator("#talk-when")).to_have_text("Not scheduled yet.")
    talk_url = sam.url
    talk_id = talk_url.rsplit("/", 1)[1]
    sam.goto(f"{live_server}/talks/mine")
    sam.select_option(f"#slot-{talk_id}", f"{day.isoformat()}|blue-room")
    sam.locator(f"#talk-{talk_id}").get_by_role("button", name="Schedule").click()
    expect(sam.locator("#talk-status")).to_have_text("scheduled")
    expect(sam.locator("#talk-room")).to_have_text("Blue room")
    expect(sam.locator("#seats-taken")).to_have_text("0/1 seats taken")

    # when Bea signs up she takes the only seat
    join_in_browser(bea, live_server, "Bea Early")
    bea.goto(talk_url)
    bea.get_by_role("button", name="Sign up").click()
    expect(bea.locator("#sign-up-state")).to_have_text("You're confirmed for a seat.")
    expect(bea.locator("#seats-taken")).to_have_text("1/1 seats taken")

    # and Wes, signing up after her, is first on the waitlist
    join_in_browser(wes, live_server, "Wes Waiting")
    wes.goto(talk_url)
    expect(wes.locator("#seats-taken")).to_have_text("1/1 seats taken")
    wes.get_by_role("button", name="Sign up").click()
    expect(wes.locator("#sign-up-state")).to_have_text("You're waitlisted, position 1.")
    expect(wes.locator("#waitlist-length")).to_have_text("1 on the waitlist")

    # when Bea cancels her sign-up
    bea.get_by_role("button", name="Cancel my sign-up").click()
    expect(bea.locator("#sign-up")).to_be_visible()

    # then Wes sees the seat is his on reload, and a "promoted" notification on his own page
    wes.reload()
    expect(wes.locator("#sign-up-state")).to_have_text("You're confirmed for a seat.")
    expect(wes.locator("#seats-taken")).to_have_text("1/1 seats taken")
    wes.goto(f"{live_server}/me")
    promoted = wes.locator("#notifications li.notification.promoted")
    expect(promoted).to_have_count(1)
    expect(promoted).to_contain_text("you moved up from the waitlist for “Bayesian audits”")
    expect(wes.locator("#signups")).to_contain_text("confirmed")
    # and Sam, the speaker, sees Wes confirmed and nobody waiting
    sam.reload()
    expect(sam.locator("#confirmed-list li")).to_have_text(["Wes Waiting"])
    expect(sam.locator("#waitlist")).to_have_count(0)
