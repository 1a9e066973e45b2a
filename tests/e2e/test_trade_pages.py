"""Trade and mentoring pages over HTTP: forms, CSRF, 422s that write nothing, and confidentiality."""

from __future__ import annotations

import re
from datetime import date, timedelta
from uuid import UUID

import pytest

NOTE = "Bob prefers mornings; keep this between us"


def services(app):
    return app.extensions["commonroom"]


def sign_up(auth, name: str) -> UUID:
    auth.logout()
    auth.register(name=name, email=f"{name.lower()}@example.org")
    return auth.peer_id()


def as_peer(auth, name: str) -> None:
    auth.logout()
    auth.login(email=f"{name.lower()}@example.org")


def trade_id_from(response) -> str:
    return re.search(r"/trades/([0-9a-f-]{36})$", response.headers["Location"]).group(1)


@pytest.fixture
def people(auth, app):
    """Ada, Bob, Eve (an outsider) and Olga (an organizer), registered; nobody signed in."""
    ids = {name: sign_up(auth, name) for name in ("Ada", "Bob", "Eve", "Olga")}
    auth.make_organizer(ids["Olga"])
    auth.logout()
    return ids


@pytest.fixture
def trade(auth, people):
    """Ada proposed SQL-for-Python to Bob, Bob accepted, Ada wrote a confidential note."""
    as_peer(auth, "Ada")
    response = auth.post("/trades/new", {"partner": "bob@example.org", "offer": "SQL", "want": "Python"})
    trade_id = trade_id_from(response)
    auth.post(f"/trades/{trade_id}/note", {"note": NOTE})
    as_peer(auth, "Bob")
    auth.post(f"/trades/{trade_id}/accept")
    auth.logout()
    return trade_id


def count_events(app) -> int:
    return services(app).store.max_notification_id()


def test_proposing_shows_the_trade_to_the_partner_as_awaiting_their_answer(auth, people, client):
    as_peer(auth, "Ada")
    response = auth.post("/trades/new", {"partner": "bob@example.org", "offer": "SQL", "want": ""})
    assert response.status_code == 302
    as_peer(auth, "Bob")
    page = client.get("/trades").get_data(as_text=True)
    assert "your answer" in page and "one-sided" in page


def test_a_bad_proposal_is_422_naming_the_field_and_writes_nothing(auth, people):
    as_peer(auth, "Ada")
    before = count_events(auth.app)
    response = auth.post("/trades/new", {"partner": "bob@example.org", "offer": "", "want": ""})
    assert response.status_code == 422
    assert 'id="e-offer"' in response.get_data(as_text=True)
    unknown = auth.post("/trades/new", {"partner": "nobody@example.org", "offer": "SQL"})
    assert unknown.status_code == 422 and 'id="e-partner"' in unknown.get_data(as_text=True)
    assert count_events(auth.app) == before


def test_a_form_without_the_csrf_token_is_refused(auth, people, client):
    as_peer(auth, "Ada")
    response = client.post("/trades/new", data={"partner": "bob@example.org", "offer": "SQL"})
    assert response.status_code == 400


def test_log_confirm_and_ledger_over_http(auth, trade, client):
    # given an active trade; when Ada logs a session she taught and Bob confirms it
    as_peer(auth, "Ada")
    ada_id = str(auth.peer_id())
    day = date.today().isoformat()
    assert auth.post(f"/trades/{trade}/session", {"teacher": ada_id, "topic": "SQL joins", "on": day,
                                                   "minutes": "45"}).status_code == 302
    as_peer(auth, "Bob")
    assert auth.post(f"/trades/{trade}/sessions/1/confirm").status_code == 302
    # then Bob's ledger shows 45 minutes received
    ledger = client.get("/trades/ledger").get_data(as_text=True)
    assert "45 min" in ledger and "SQL joins" in ledger


@pytest.mark.parametrize("form, field", [
    ({"topic": "SQL", "on": "not a date", "minutes": "30"}, "on"),
    ({"topic": "SQL", "on": "2026-11-01", "minutes": "lots"}, "minutes"),
    ({"topic": "", "on": "2026-11-01", "minutes": "30"}, "topic"),
    ({"topic": "SQL", "on": "2026-11-01", "minutes": "0"}, "minutes"),
])
def test_a_bad_session_is_422_with_the_field_marked_and_nothing_written(auth, trade, form, field):
    as_peer(auth, "Ada")
    before = count_events(auth.app)
    response = auth.post(f"/trades/{trade}/session", dict(form, teacher=str(auth.peer_id())))
    assert response.status_code == 422
    assert f'id="e-{field}"' in response.get_data(as_text=True)
    assert count_events(auth.app) == before


def test_declining_shows_the_reason_kindly(auth, people, client):
    as_peer(auth, "Ada")
    trade_id = trade_id_from(auth.post("/trades/new", {"partner": "bob@example.org", "offer": "SQL"}))
    as_peer(auth, "Bob")
    auth.post(f"/trades/{trade_id}/decline", {"reason": "swamped until March"})
    page = client.get(f"/trades/{trade_id}").get_data(as_text=True)
    assert "swamped until March" in page and "nothing is counted against anyone" in page


def test_notes_are_shown_to_both_parties(auth, trade, client):
    for name in ("Ada", "Bob"):
        as_peer(auth, name)
        assert NOTE in client.get(f"/trades/{trade}").get_data(as_text=True)


def test_an_organizer_sees_the_trade_but_never_its_notes(auth, trade, client):
    as_peer(auth, "Olga")
    page = client.get(f"/trades/{trade}")
    assert page.status_code == 200
    assert NOTE not in page.get_data(as_text=True)
    assert auth.post(f"/trades/{trade}/note", {"note": "peek"}).status_code == 403


def test_an_outsider_cannot_find_the_trade_at_all(auth, trade, client):
    as_peer(auth, "Eve")
    response = client.get(f"/trades/{trade}")
    assert response.status_code == 404
    assert NOTE not in response.get_data(as_text=True)
    assert auth.post(f"/trades/{trade}/note", {"note": "hi"}).status_code == 404


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(trade, client):
    response = client.get(f"/trades/{trade}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def token_for(client, name: str) -> dict:
    response = client.post("/api/v1/tokens", json={"email": f"{name.lower()}@example.org",
                                                   "password": "correct horse"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_the_api_gives_notes_only_to_the_parties(auth, trade, client):
    auth.logout()
    for name in ("Ada", "Bob"):
        body = client.get(f"/api/v1/trades/{trade}", headers=token_for(client, name)).get_json()
        assert [n["text"] for n in body["notes"]] == [NOTE]
    organizer = client.get(f"/api/v1/trades/{trade}", headers=token_for(client, "Olga"))
    assert organizer.status_code == 200 and "notes" not in organizer.get_json()
    assert NOTE not in organizer.get_data(as_text=True)
    outsider = client.get(f"/api/v1/trades/{trade}", headers=token_for(client, "Eve"))
    assert outsider.status_code == 404 and NOTE not in outsider.get_data(as_text=True)
    assert client.get(f"/api/v1/trades/{trade}").status_code == 401
    listed = client.get("/api/v1/trades", headers=token_for(client, "Eve")).get_json()
    assert listed == {"trades": []}


def test_the_api_ledger_and_suggestions_answer_json(auth, trade, client):
    headers = token_for(client, "Ada")
    assert client.get("/api/v1/trades/ledger", headers=headers).get_json()["given"] == 0
    assert client.get("/api/v1/trades/suggestions", headers=headers).get_json() == {"pairs": [], "circles": []}


def test_suggestions_page_explains_each_pair(auth, people, client):
    app = auth.app
    for name, offer, want in (("Ada", "SQL", "Python"), ("Bob", "Python", "SQL")):
        services(app).people.offer_skill(people[name], offer, by=people[name])
        services(app).people.want_skill(people[name], want, by=people[name])
    services(app).settle()
    as_peer(auth, "Ada")
    page = client.get("/trades/suggestions").get_data(as_text=True)
    assert "Bob can teach you Python; you can teach them SQL" in page


def test_trading_preferences_save_and_refuse_a_bad_limit(auth, people, client):
    as_peer(auth, "Ada")
    bad = auth.post("/trades/profile", {"desired_position": "Lead", "max_active_trades": "many"})
    assert bad.status_code == 422 and 'id="e-max_active_trades"' in bad.get_data(as_text=True)
    assert auth.post("/trades/profile", {"desired_position": "Lead", "max_active_trades": "2",
                                         "opted_out": "on"}).status_code == 302
    page = client.get("/trades/profile").get_data(as_text=True)
    assert 'value="Lead"' in page and "checked" in page


def test_mentoring_from_programme_to_contact_over_http(auth, people, client):
    # given an organizer's programme, a mentor and an applicant
    as_peer(auth, "Olga")
    response = auth.post("/mentoring", {"name": "Fellows", "description": ""})
    programme_url = response.headers["Location"]
    as_peer(auth, "Bob")
    assert auth.post(programme_url + "/mentor", {"skills": "SQL", "languages": "English",
                                                 "timezone": "Europe/London", "capacity": "2"}).status_code == 302
    as_peer(auth, "Ada")
    bad = auth.post(programme_url + "/apply", {"goals": "", "needs": "SQL", "timezone": "Europe/London"})
    assert bad.status_code == 422 and 'id="e-goals"' in bad.get_data(as_text=True)
    assert auth.post(programme_url + "/apply", {"goals": "Write SQL", "needs": "SQL",
                                                "timezone": "Europe/London"}).status_code == 302
    # when the organizer confirms the proposed mentor
    as_peer(auth, "Olga")
    assert "Confirm this pair" in client.get(programme_url).get_data(as_text=True)
    response = auth.post(programme_url + "/pair", {"mentor": str(people["Bob"]), "mentee": str(people["Ada"])})
    assert response.status_code == 302
    # then the mentee can log a contact and an outsider cannot see the pair
    as_peer(auth, "Ada")
    [pair_link] = re.findall(r'href="(/mentoring/pairs/[0-9a-f-]{36})"', client.get("/mentoring").get_data(as_text=True))
    bad_contact = auth.post(pair_link + "/contact", {"on": date.today().isoformat(), "minutes": "20", "kind": "fax"})
    assert bad_contact.status_code == 422
    assert auth.post(pair_link + "/contact", {"on": date.today().isoformat(), "minutes": "20",
                                              "kind": "call"}).status_code == 302
    assert "call" in client.get(pair_link).get_data(as_text=True)
    as_peer(auth, "Eve")
    assert client.get(pair_link).status_code == 404


def test_the_health_report_flags_a_pair_quiet_for_three_weeks(auth, people, client, clock):
    app = auth.app
    programme_id, _ = services(app).mentoring.start_programme("Fellows", "", by=people["Olga"])
    services(app).mentoring.join_as_mentor(programme_id, people["Bob"], "SQL", "", "English", "UTC", 1)
    services(app).mentoring.apply(programme_id, people["Ada"], "Learn SQL", "SQL", "", "English", "UTC")
    services(app).mentoring.pair(programme_id, people["Bob"], people["Ada"], by=people["Olga"])
    services(app).settle()
    as_peer(auth, "Olga")
    assert "Every pair has been in touch" in client.get("/mentoring/health").get_data(as_text=True)
    clock.advance(timedelta(days=22))
    assert "Bob and Ada" in client.get("/mentoring/health").get_data(as_text=True)
    as_peer(auth, "Ada")
    assert client.get("/mentoring/health").status_code == 403


@pytest.mark.parametrize("url", ["/people/{id}/history", "/talks/{id}/history"])
def test_audit_trail_pages_never_show_a_trades_notes_to_an_outsider(auth, trade, client, url):
    as_peer(auth, "Eve")
    response = client.get(url.format(id=trade))
    assert NOTE not in response.get_data(as_text=True)


def test_a_circle_is_proposed_from_suggestions_and_forms_when_all_accept(auth, client):
    # given Cat -> Dan -> Fay -> Cat with no direct pair among them
    ids = {}
    for name, offer, want in (("Cat", "Go", "Excel"), ("Dan", "Rust", "Go"), ("Fay", "Excel", "Rust")):
        ids[name] = sign_up(auth, name)
        services(auth.app).people.offer_skill(ids[name], offer, by=ids[name])
        services(auth.app).people.want_skill(ids[name], want, by=ids[name])
    services(auth.app).settle()
    # when Cat proposes the suggested circle
    as_peer(auth, "Cat")
    page = client.get("/trades/suggestions").get_data(as_text=True)
    assert "Cat teaches Go → Dan teaches Rust → Fay teaches Excel" in page
    members = re.findall(r'name="members" value="([^"]+)"', page)
    response = auth.post("/trades/circles", {"members": members, "skills": ["Go", "Rust", "Excel"]})
    assert response.status_code == 302
    # then it forms only once Dan and Fay have both accepted
    circle_id = re.search(r"#circle-(.+)$", response.headers["Location"]).group(1)
    as_peer(auth, "Dan")
    auth.post(f"/trades/circles/{circle_id}/accept")
    assert "proposed" in client.get("/trades").get_data(as_text=True)
    as_peer(auth, "Fay")
    auth.post(f"/trades/circles/{circle_id}/accept")
    page = client.get("/trades").get_data(as_text=True)
    assert '<span class="badge">active</span>' in page


def test_a_circle_of_two_is_refused_with_422(auth, people):
    as_peer(auth, "Ada")
    before = count_events(auth.app)
    response = auth.post("/trades/circles", {"members": [str(people["Ada"]), str(people["Bob"])],
                                             "skills": ["SQL", "Go"]})
    assert response.status_code == 422
    assert count_events(auth.app) == before
