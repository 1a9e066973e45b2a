"""The JSON write API for trades: offer, answer, log and confirm sessions, confidential notes.

Every command answers with the trade as the caller now sees it; bad input is a 422 naming the
field, a rule conflict a 409, someone outside the trade a 403 or 404, and a refused command
records nothing (the event store's head does not move).
"""

from __future__ import annotations

from functools import partial

import pytest
from api_given import api  # noqa: F401  (the fixture)

NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def people(api):
    """Ada and Bob (who trade), Eve (who does not) and Olga (an organizer): (id, header) each."""
    return {name.split()[0].lower(): api.peer(name, organizer=name.startswith("Olga"))
            for name in ("Ada Lovelace", "Bob Bemer", "Eve Evans", "Olga Organizer")}


def offer(api, people, **body) -> dict:
    (bob, _), (_, ada) = people["bob"], people["ada"]
    answer = api.post("/trades", {"to": str(bob), "offer": "SQL", "want": "Python", **body}, ada)
    assert answer.status_code == 201, answer.json
    return answer.json


@pytest.fixture
def active(api, people, clock) -> dict:
    """An accepted trade: Ada offered SQL for Python, Bob accepted."""
    trade = offer(api, people)
    assert api.post(f"/trades/{trade['id']}/accept", who=people["bob"][1]).status_code == 200
    return trade


def session_body(people, clock, **changes) -> dict:
    return {"teacher": str(people["ada"][0]), "learner": str(people["bob"][0]), "topic": "SQL joins",
            "date": clock.now().date().isoformat(), "minutes": 60, **changes}


def refused(api, call, status: int, field: str | None = None) -> dict:
    """Make the call; it must be refused with ``status`` (naming ``field``) and record nothing."""
    before = api.head()
    answer = call()
    assert answer.status_code == status, answer.json
    if field is not None:
        assert answer.json.get("field") == field, answer.json
    assert api.head() == before
    return answer.json


# --- the happy flow -------------------------------------------------------------------------------
def test_an_offer_accepted_a_session_logged_and_confirmed_reaches_both_ledgers(api, people, clock):
    (ada_id, ada), (bob_id, bob) = people["ada"], people["bob"]
    # when Ada offers Bob a trade
    offered = api.post("/trades", {"to": str(bob_id), "offer": "SQL", "want": "Python",
                                   "message": "Swap an hour?"}, ada)
    # then it is created, awaiting Bob, and can be fetched where Location says
    assert offered.status_code == 201
    trade = offered.json
    assert (trade["status"], trade["awaiting_id"], trade["proposer_id"]) == ("proposed", str(bob_id), str(ada_id))
    assert api.client.get(offered.headers["Location"], headers=ada).json["id"] == trade["id"]
    # when Bob accepts
    accepted = api.post(f"/trades/{trade['id']}/accept", who=bob)
    assert (accepted.status_code, accepted.json["status"]) == (200, "active")
    # and Ada logs an hour she taught Bob
    logged = api.post(f"/trades/{trade['id']}/sessions", session_body(people, clock), ada)
    assert logged.status_code == 201
    [session] = logged.json["sessions"]
    assert (session["teacher_id"], session["learner_id"], session["minutes"], session["status"]) == (
        str(ada_id), str(bob_id), 60, "pending")
    # and Bob confirms it
    confirmed = api.post(f"/trades/{trade['id']}/sessions/{session['number']}/confirm", who=bob)
    assert confirmed.status_code == 200
    assert confirmed.json["sessions"][0]["status"] == "confirmed"
    # then the ledgers count the hour: given by Ada, received by Bob
    assert (api.get("/trades/ledger", ada).json["given"], api.get("/trades/ledger", bob).json["received"]) == (
        60, 60)


def test_the_partner_counters_and_the_proposer_declines_with_a_reason(api, people):
    trade = offer(api, people)
    # when Bob counters with another want
    countered = api.post(f"/trades/{trade['id']}/counter", {"want": "Rust"}, people["bob"][1])
    # then the proposal awaits Ada, with the new want
    assert countered.status_code == 200
    assert (countered.json["want"], countered.json["countered"], countered.json["awaiting_id"]) == (
        "Rust", True, str(people["ada"][0]))
    # when Ada declines it, saying why
    declined = api.post(f"/trades/{trade['id']}/decline", {"reason": "No time for Rust"}, people["ada"][1])
    assert (declined.status_code, declined.json["status"], declined.json["decline_reason"]) == (
        200, "declined", "No time for Rust")


def test_a_proposer_withdraws_an_open_offer_and_a_decline_needs_no_body(api, people):
    first, second = offer(api, people), offer(api, people, want="Go")
    withdrawn = api.post(f"/trades/{first['id']}/withdraw", who=people["ada"][1])
    assert (withdrawn.status_code, withdrawn.json["status"]) == (200, "withdrawn")
    declined = api.post(f"/trades/{second['id']}/decline", who=people["bob"][1])
    assert (declined.status_code, declined.json["status"]) == (200, "declined")


def test_a_disputed_session_does_not_count(api, people, active, clock):
    logged = api.post(f"/trades/{active['id']}/sessions", session_body(people, clock), people["ada"][1])
    number = logged.json["sessions"][0]["number"]
    disputed = api.post(f"/trades/{active['id']}/sessions/{number}/dispute", {"reason": "It was 30 minutes"},
                        people["bob"][1])
    assert (disputed.status_code, disputed.json["sessions"][0]["status"]) == (200, "disputed")
    assert api.get("/trades/ledger", people["ada"][1]).json["given"] == 0


# --- bad input ------------------------------------------------------------------------------------
OFFERS = [
    ("to", {"to": None}), ("to", {"to": "not-an-id"}), ("to", {"to": 42}), ("to", {"to": NOWHERE}),
    ("offer", {"offer": 5}), ("offer", {"offer": "x" * 61}), ("offer", {"offer": "", "want": ""}),
    ("want", {"want": ["Python"]}), ("want", {"want": "x" * 61}), ("message", {"message": "x" * 1001}),
    ("message", {"message": {"text": "hi"}}),
]


@pytest.mark.parametrize(("field", "change"), OFFERS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(OFFERS)])
def test_a_bad_offer_is_422_naming_the_field_and_records_nothing(api, people, field, change):
    body = {"to": str(people["bob"][0]), "offer": "SQL", "want": "Python", **change}
    refused(api, lambda: api.post("/trades", body, people["ada"][1]), 422, field)


def test_offering_a_trade_to_oneself_is_422_naming_to(api, people):
    body = {"to": str(people["ada"][0]), "offer": "SQL"}
    refused(api, lambda: api.post("/trades", body, people["ada"][1]), 422, "to")


SESSIONS = [
    ("teacher", {"teacher": "nobody"}), ("teacher", {"teacher": NOWHERE}), ("teacher", {"teacher": None}),
    ("learner", {"learner": 7}), ("learner", {"learner": NOWHERE}), ("learner", "teacher-as-learner"),
    ("topic", {"topic": ""}), ("topic", {"topic": "   "}), ("topic", {"topic": "x" * 81}), ("topic", {"topic": 3}),
    ("date", {"date": "2026-02-30"}), ("date", {"date": "tomorrow"}), ("date", {"date": 20261201}),
    ("date", {"date": None}),
    ("minutes", {"minutes": 0}), ("minutes", {"minutes": -30}), ("minutes", {"minutes": "60"}),
    ("minutes", {"minutes": 30.5}), ("minutes", {"minutes": True}), ("minutes", {"minutes": 601}),
    ("minutes", {"minutes": None}),
]


@pytest.mark.parametrize(("field", "change"), SESSIONS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(SESSIONS)])
def test_a_bad_session_is_422_naming_the_field_and_records_nothing(api, people, active, clock, field, change):
    if change == "teacher-as-learner":
        change = {"learner": str(people["ada"][0])}
    body = session_body(people, clock, **change)
    refused(api, lambda: api.post(f"/trades/{active['id']}/sessions", body, people["ada"][1]), 422, field)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("counter", {"want": ""}, "want"), ("counter", {"want": "x" * 61}, "want"), ("counter", {}, "want"),
    ("decline", {"reason": "x" * 301}, "reason"), ("decline", {"reason": 12}, "reason"),
])
def test_a_bad_answer_to_a_proposal_is_422_naming_the_field(api, people, path, body, field):
    trade = offer(api, people)
    refused(api, lambda: api.post(f"/trades/{trade['id']}/{path}", body, people["bob"][1]), 422, field)


@pytest.mark.parametrize("note", ["", "  ", "x" * 2001, 99, None])
def test_a_bad_note_is_422_naming_note(api, people, active, note):
    refused(api, lambda: api.post(f"/trades/{active['id']}/notes", {"note": note}, people["ada"][1]), 422, "note")


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "null"])
def test_a_body_that_is_not_a_json_object_is_400(api, people, body):
    refused(api, lambda: api.client.post("/api/v1/trades", data=body, content_type="application/json",
                                         headers=people["ada"][1]), 400)


def test_the_documented_max_lengths_are_the_real_ones(api, people, active, clock):
    # given the OpenAPI document's request schemas for trades
    schemas = api.get("/openapi.json").json["components"]["schemas"]
    calls = {
        "TradeOffer": ("/trades", {"to": str(people["bob"][0]), "offer": "SQL"}, people["ada"][1]),
        "TradeSession": (f"/trades/{active['id']}/sessions", session_body(people, clock), people["ada"][1]),
        "TradeNote": (f"/trades/{active['id']}/notes", {"note": "ok"}, people["ada"][1]),
    }
    for schema, (path, valid, who) in calls.items():
        limits = {name: spec["maxLength"] for name, spec in schemas[schema]["properties"].items()
                  if "maxLength" in spec}
        assert limits, schema
        for field, limit in limits.items():
            # then one character more is refused naming the field
            refused(api, partial(api.post, path, {**valid, field: "x" * (limit + 1)}, who), 422, field)


# --- who may act ----------------------------------------------------------------------------------
def test_an_anonymous_caller_is_asked_for_a_token_and_nothing_is_recorded(api, people, active):
    for path in ("/trades", f"/trades/{active['id']}/accept", f"/trades/{active['id']}/notes"):
        before = api.head()
        answer = api.post(path, {"note": "hello"})
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert api.head() == before


def test_an_organizer_and_another_peer_never_see_or_add_notes(api, people, active):
    # given Ada's confidential note on her trade with Bob
    noted = api.post(f"/trades/{active['id']}/notes", {"note": "Bob struggles with joins"}, people["ada"][1])
    assert noted.status_code == 201
    assert [n["text"] for n in noted.json["notes"]] == ["Bob struggles with joins"]
    # then Bob, the other party, reads it
    assert [n["text"] for n in api.get(f"/trades/{active['id']}", people["bob"][1]).json["notes"]] == [
        "Bob struggles with joins"]
    # but the organizer reads the trade without notes and may not add one
    organizer = people["olga"][1]
    shown = api.get(f"/trades/{active['id']}", organizer)
    assert shown.status_code == 200 and "notes" not in shown.json
    assert "joins" not in shown.get_data(as_text=True)
    refused(api, lambda: api.post(f"/trades/{active['id']}/notes", {"note": "Peek"}, organizer), 403)
    # and another peer does not even learn the trade exists
    eve = people["eve"][1]
    assert api.get(f"/trades/{active['id']}", eve).status_code == 404
    refused(api, lambda: api.post(f"/trades/{active['id']}/notes", {"note": "Peek"}, eve), 404)
    assert api.get("/trades", eve).json["trades"] == []


@pytest.mark.parametrize("who", ["olga", "eve"])
def test_outsiders_cannot_answer_log_or_confirm(api, people, active, clock, who):
    header, status = people[who][1], 403 if who == "olga" else 404
    trade = offer(api, people, want="Go")
    logged = api.post(f"/trades/{active['id']}/sessions", session_body(people, clock), people["ada"][1])
    number = logged.json["sessions"][0]["number"]
    for path, body in [(f"/trades/{trade['id']}/accept", None), (f"/trades/{trade['id']}/decline", None),
                       (f"/trades/{trade['id']}/counter", {"want": "R"}), (f"/trades/{trade['id']}/withdraw", None),
                       (f"/trades/{active['id']}/sessions", session_body(people, clock)),
                       (f"/trades/{active['id']}/sessions/{number}/confirm", None),
                       (f"/trades/{active['id']}/sessions/{number}/dispute", None)]:
        refused(api, partial(api.post, path, body, header), status)


# --- rule conflicts -------------------------------------------------------------------------------
def test_rule_conflicts_are_refused_and_record_nothing(api, people, active, clock):
    ada, bob = people["ada"][1], people["bob"][1]
    open_trade = offer(api, people, want="Go")
    # the proposer cannot accept her own offer; the partner cannot withdraw it
    refused(api, lambda: api.post(f"/trades/{open_trade['id']}/accept", who=ada), 403)
    refused(api, lambda: api.post(f"/trades/{open_trade['id']}/withdraw", who=bob), 403)
    # an accepted trade cannot be accepted again, and no session is logged on an open proposal
    refused(api, lambda: api.post(f"/trades/{active['id']}/accept", who=bob), 409)
    refused(api, lambda: api.post(f"/trades/{open_trade['id']}/sessions", session_body(people, clock), ada), 409)
    # whoever logged a session does not confirm it; a confirmed session is not confirmed twice
    logged = api.post(f"/trades/{active['id']}/sessions", session_body(people, clock), ada)
    number = logged.json["sessions"][0]["number"]
    refused(api, lambda: api.post(f"/trades/{active['id']}/sessions/{number}/confirm", who=ada), 403)
    assert api.post(f"/trades/{active['id']}/sessions/{number}/confirm", who=bob).status_code == 200
    refused(api, lambda: api.post(f"/trades/{active['id']}/sessions/{number}/dispute", who=bob), 409)


def test_unknown_trades_and_sessions_are_404(api, people, active):
    ada = people["ada"][1]
    refused(api, lambda: api.post(f"/trades/{NOWHERE}/accept", who=ada), 404)
    refused(api, lambda: api.post("/trades/not-a-trade/notes", {"note": "x"}, ada), 404)
    refused(api, lambda: api.post(f"/trades/{active['id']}/sessions/9/confirm", who=ada), 404)
    refused(api, lambda: api.post(f"/trades/{active['id']}/sessions/x/dispute", who=ada), 404)
