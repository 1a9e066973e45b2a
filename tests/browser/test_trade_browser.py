"""A trade from proposal to the ledger, in a real browser, with two people signed in at once."""

from __future__ import annotations

from datetime import date

import pytest

from support import join_in_browser


@pytest.mark.browser
def test_propose_accept_log_confirm_then_the_ledger_shows_the_minutes(live_server, new_page):
    ada, bob = new_page(), new_page()
    join_in_browser(ada, live_server, "Ada")
    join_in_browser(bob, live_server, "Bob")
    # given Ada proposes SQL for Python to Bob
    ada.get_by_role("link", name="Trades").click()
    ada.get_by_role("button", name="Propose a trade").click()
    ada.fill("#f-partner", "bob@example.org")
    ada.fill("#f-offer", "SQL")
    ada.fill("#f-want", "Python")
    ada.get_by_role("button", name="Send proposal").click()
    assert ada.locator("#trade-status").inner_text() == "proposed"
    # when Bob accepts it
    bob.get_by_role("link", name="Trades").click()
    bob.get_by_role("link", name="Ada").click()
    bob.get_by_role("button", name="Accept").click()
    assert bob.locator("#trade-status").inner_text() == "active"
    # and Bob logs a 45-minute session where Ada taught him, which Ada confirms
    bob.select_option("#f-teacher", label="Ada taught me")
    bob.fill("#f-topic", "SQL window functions")
    bob.fill("#f-on", date.today().isoformat())
    bob.fill("#f-minutes", "45")
    bob.get_by_role("button", name="Log session").click()
    assert "pending" in bob.locator("#session-1").inner_text()
    ada.reload()
    ada.locator("#session-1").get_by_role("button", name="Confirm").click()
    assert "confirmed" in ada.locator("#session-1").inner_text()
    # then both ledgers show the minutes, each from their side
    ada.get_by_role("link", name="My ledger").click()
    assert "45 min" in ada.locator("#ledger-totals tr", has_text="In total").inner_text()
    bob.goto(f"{live_server}/trades/ledger")
    totals = bob.locator("#ledger-totals tr", has_text="In total").inner_text()
    assert totals.split("\t")[-1].strip() == "45 min"
    assert "SQL window functions" in bob.content()
