"""Who may do what: every route of the app, every method, asked by four callers.

The callers: ``anonymous``; ``party`` (Ada: she owns the talk, proposed the trade, is the mentee of
the mentorship, and is the peer in ``<peer_id>``); ``other`` (Eve, a peer with no part in any of
it); and ``organizer`` (Olga). Path parameters are real ids from a small world, one world per
caller (so one caller's changes never decide another's outcome); within a caller's world the
requests run in the table's order.

Outcome classes:

- ``ok``: authorization let the request through. The answer may still refuse bad or ill-timed
  input (400/409/422) or redirect after a change, but it is not 401/403/404 and never 5xx.
- ``login``: a page redirects an anonymous caller to /login.
- ``401``: the JSON API asks for a bearer token.
- ``denied``: 403 or 404 (hidden).

``EXPECTED`` must classify every route, method and action; ``test_every_route_is_classified``
fails when a new one appears, so whoever adds a route decides who may call it.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import url_for

from commonroom.platform.app import create_app
from commonroom.platform.web import trades as trade_pages
from commonroom.platform.web.programme import ACTIONS as ORGANIZE_ACTIONS
from commonroom.platform.web.security import issue_token
from commonroom.platform.services import SYSTEM_ACTOR
from support import next_weekday, start_programme

ROLES = ("anonymous", "party", "other", "organizer")
NOTE = "Confidential from Ada: Bob struggles with joins"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def rule(anonymous: str, party: str, other: str, organizer: str) -> dict[str, str]:
    return {"anonymous": anonymous, "party": party, "other": other, "organizer": organizer}


PUBLIC = rule("ok", "ok", "ok", "ok")
SIGNED_IN = rule("login", "ok", "ok", "ok")
OWNED = rule("login", "ok", "denied", "ok")  # the owner or an organizer
OWNER_ONLY = rule("login", "ok", "denied", "denied")  # not even an organizer
ORGANIZERS = rule("login", "denied", "denied", "ok")
API_PUBLIC = PUBLIC
API_SIGNED_IN = rule("401", "ok", "ok", "ok")
API_OWNED = rule("401", "ok", "denied", "ok")
API_OWNER_ONLY = rule("401", "ok", "denied", "denied")

# endpoint -> "METHOD" or "METHOD action" -> who gets which outcome
EXPECTED: dict[str, dict[str, dict[str, str]]] = {
    # --- accounts and pages
    "auth.login": {"GET": PUBLIC, "POST": rule("401", "401", "401", "401")},  # no credentials sent
    "auth.register": {"GET": PUBLIC, "POST": PUBLIC},
    "auth.logout": {"POST": PUBLIC},
    "pages.home": {"GET": PUBLIC},
    "pages.me": {"GET": SIGNED_IN},
    "health.healthz": {"GET": PUBLIC},
    "health.readyz": {"GET": PUBLIC},
    # --- programme
    "programme.calendar": {"GET": PUBLIC},
    "programme.organize": {"GET": ORGANIZERS},
    "programme.organize_action": {f"POST {a}": ORGANIZERS for a in ORGANIZE_ACTIONS},
    # --- talks (the talk is Ada's, scheduled, with Bob signed up)
    "talks.show": {"GET": PUBLIC},
    "talks.propose": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "talks.mine": {"GET": SIGNED_IN},
    "talks.take": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "talks.edit": {"GET": OWNER_ONLY, "POST": OWNER_ONLY},
    "talks.schedule": {"POST": OWNED},
    "talks.attendance": {"POST": OWNED},
    "talks.sign_up": {"POST": SIGNED_IN},  # the speaker's own sign-up is a conflict (409), not a denial
    "talks.cancel_sign_up": {"POST": SIGNED_IN},
    # only someone who came may give feedback; before the talk nobody has come
    "talks.feedback": {"POST": rule("login", "denied", "denied", "denied")},
    "talks.withdraw": {"POST": OWNER_ONLY},
    "talks.cancel": {"POST": OWNED},  # last: a cancelled talk refuses most of the above
    # --- who knows what
    "directory.index": {"GET": PUBLIC},
    "directory.profile": {"GET": PUBLIC},
    "directory.graph_page": {"GET": PUBLIC},
    "directory.graph_json": {"GET": PUBLIC},
    "directory.merge_alias": {"POST": ORGANIZERS},
    "directory.endorse": {"POST": rule("login", "denied", "ok", "ok")},  # nobody endorses themselves
    # audit trails: the person (or the talk's speaker) and organizers; what they show: tested below
    "directory.peer_history": {"GET": rule("login", "ok", "denied", "ok")},
    "directory.talk_history": {"GET": rule("login", "ok", "denied", "ok")},
    # --- calendar feeds
    "feeds.programme": {"GET": PUBLIC},
    # a calendar app sends the secret token in the URL; without it only the owner's session reads it
    "feeds.personal": {"GET": rule("denied", "ok", "denied", "denied")},
    # --- trades (Ada proposed to Bob, Bob accepted; Ada wrote a confidential note)
    "trades.index": {"GET": SIGNED_IN},
    "trades.new": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "trades.ledger": {"GET": SIGNED_IN},
    "trades.suggestions": {"GET": SIGNED_IN},
    "trades.profile": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "trades.propose_circle": {"POST": SIGNED_IN},
    "trades.show": {"GET": OWNED},  # an organizer may open it, without its notes (tested below)
    "trades.act": {f"POST {a}": OWNER_ONLY for a in trade_pages.TRADE_ACTIONS},
    "trades.act_on_session": {f"POST {a}": OWNER_ONLY for a in trade_pages.SESSION_ACTIONS},
    "trades.answer_circle": {"POST accept": OWNER_ONLY, "POST decline": OWNER_ONLY},
    # --- mentoring (Olga runs a programme; Bob mentors Ada)
    "trades.mentoring": {"GET": SIGNED_IN, "POST": ORGANIZERS},
    "trades.mentoring_programme": {"GET": SIGNED_IN},
    "trades.mentoring_act": {"POST mentor": SIGNED_IN, "POST apply": SIGNED_IN, "POST pair": ORGANIZERS},
    "trades.mentoring_health": {"GET": ORGANIZERS},
    "trades.mentoring_pair": {"GET": OWNED},
    "trades.mentoring_pair_act": {"POST contact": OWNER_ONLY, "POST end": OWNED},
    # --- JSON API
    "api.openapi": {"GET": API_PUBLIC},
    "api.create_token": {"POST": API_PUBLIC},
    "api.register_peer": {"POST": API_PUBLIC},
    "api.list_peers": {"GET": API_PUBLIC},
    "api.get_peer": {"GET": API_PUBLIC},
    "api.me": {"GET": API_SIGNED_IN},
    "api.list_talks": {"GET": API_PUBLIC},
    "api.get_talk": {"GET": API_PUBLIC},
    "api.schedule": {"GET": API_PUBLIC},
    "api.propose_talk": {"POST": API_SIGNED_IN},
    "api.revise_talk": {"PATCH": API_OWNER_ONLY},
    "api.schedule_talk": {"POST": API_OWNED},
    "api.sign_up": {"POST": API_SIGNED_IN},
    "api.cancel_sign_up": {"DELETE": API_SIGNED_IN},
    "api.list_signups": {"GET": API_PUBLIC},
    "api.record_attendance": {"POST": API_OWNED},
    "api.give_feedback": {"POST": rule("401", "denied", "denied", "denied")},
    "api.talk_attendance": {"GET": API_PUBLIC},
    "api.peer_attendance": {"GET": API_OWNED},
    "api.withdraw_talk": {"POST": API_OWNER_ONLY},
    "api.cancel_talk": {"POST": API_OWNED},
    "trades_api.api_list": {"GET": API_SIGNED_IN},
    "trades_api.api_show": {"GET": API_OWNED},  # an organizer gets it without notes (tested below)
    "trades_api.api_ledger": {"GET": API_SIGNED_IN},
    "trades_api.api_suggestions": {"GET": API_SIGNED_IN},
    "trades_api.api_offer": {"POST": API_SIGNED_IN},
    "trades_api.api_accept": {"POST": API_OWNER_ONLY},  # parties only: an organizer never acts on a trade
    "trades_api.api_decline": {"POST": API_OWNER_ONLY},
    "trades_api.api_withdraw": {"POST": API_OWNER_ONLY},
    "trades_api.api_counter": {"POST": API_OWNER_ONLY},
    "trades_api.api_log_session": {"POST": API_OWNER_ONLY},
    "trades_api.api_confirm_session": {"POST": API_OWNER_ONLY},
    "trades_api.api_dispute_session": {"POST": API_OWNER_ONLY},
    "trades_api.api_add_note": {"POST": API_OWNER_ONLY},
}

# (endpoint, case, role) -> why it is a known hole, not yet closed (none at the moment)
HOLES: dict[tuple[str, str, str], str] = {}

# well-formed input for the cases whose views check their input before asking who may act
FORMS = {
    ("talks.schedule", "POST"): lambda ids: {"slot": f"{ids['later']}|blue-room"},
    ("talks.attendance", "POST"): lambda ids: {f"attended-{ids['bob']}": "yes"},
    ("talks.feedback", "POST"): lambda ids: {"rating": "5", "comment": "Clear and useful."},
    ("programme.organize_action", "POST remove-room"): lambda ids: {"room_id": "green-room"},
    ("trades.act", "POST session"): lambda ids: {"teacher": ids["ada"], "topic": "SQL joins",
                                                 "on": ids["today"], "minutes": "30"},
    ("trades.act_on_session", "POST correct"): lambda ids: {"teacher": ids["ada"], "topic": "SQL joins",
                                                            "on": ids["today"], "minutes": "45"},
    ("trades.mentoring_act", "POST pair"): lambda ids: {"mentor": ids["bob"], "mentee": ids["ada"]},
    ("trades.mentoring_pair_act", "POST contact"): lambda ids: {"on": ids["today"], "minutes": "30",
                                                                "kind": "call", "note": "First call"},
    ("api.schedule_talk", "POST"): lambda ids: {"day": ids["later"], "room_id": "blue-room"},
    ("api.record_attendance", "POST"): lambda ids: {"attended": {ids["bob"]: True}},
    ("api.give_feedback", "POST"): lambda ids: {"rating": 5},
    ("trades_api.api_offer", "POST"): lambda ids: {"to": ids["bob"], "offer": "SQL"},
    ("trades_api.api_counter", "POST"): lambda ids: {"want": "R"},
    ("trades_api.api_log_session", "POST"): lambda ids: {"teacher": ids["ada"], "learner": ids["bob"],
                                                         "topic": "SQL joins", "date": ids["today"],
                                                         "minutes": 30},
    ("trades_api.api_add_note", "POST"): lambda ids: {"note": "Bob asked for more joins"},
}


# --- the world ------------------------------------------------------------------------------------
def build_world(app) -> dict[str, str]:
    s = app.extensions["commonroom"]

    def join(name: str):
        return s.people.register(name, f"{name.lower()}@example.org", "Audit", "correct horse").peer_id

    olga, ada, bob, eve, carl = (join(n) for n in ("Olga", "Ada", "Bob", "Eve", "Carl"))
    s.settle(s.people.grant_organizer(olga, by=SYSTEM_ACTOR))
    start_programme(s, olga, rooms=(("Blue room", 5), ("Green room", 5)))
    talk, _ = s.talks.propose(ada, "Bayesian audits", "Priors for the sceptical.", "statistics")
    s.talks.schedule(talk, next_weekday(7), "blue-room", by=ada)
    s.talks.sign_up(talk, bob)
    trade, _ = s.trades.propose(ada, bob, "SQL", "Python")
    s.trades.accept(trade, by=bob)
    s.trades.add_note(trade, NOTE, by=ada)
    s.trades.log_session(trade, ada, "SQL joins", date.today(), 30, by=bob)  # for Ada to confirm
    circle, _ = s.trades.propose_circle([ada, bob, carl], ["SQL", "Python", "R"], by=bob)
    programme, _ = s.mentoring.start_programme("Growing", "Mentors for newcomers", by=olga)
    s.mentoring.join_as_mentor(programme, bob, "Python", "", "English", "Europe/London", 2)
    s.mentoring.apply(programme, ada, "Write Python well", "Python", "", "English", "Europe/London")
    mentorship, position = s.mentoring.pair(programme, bob, ada, by=olga)
    s.settle()
    return {"talk_id": str(talk), "peer_id": str(ada), "trade_id": str(trade), "number": "1", "session_id": "1",
            "circle_id": str(circle), "programme_id": str(programme), "mentorship_id": str(mentorship),
            "ada": str(ada), "bob": str(bob), "eve": str(eve), "olga": str(olga),
            "today": date.today().isoformat(), "later": next_weekday(14).isoformat()}


class Caller:
    """One role's client in its own world: signed in (pages) and holding a token (API)."""

    def __init__(self, app, role: str) -> None:
        self.app, self.role = app, role
        self.ids = build_world(app)
        self.client = app.test_client()
        self.token = None
        self.who = {"party": "ada", "other": "eve", "organizer": "olga"}.get(role)
        if self.who:
            with app.app_context():
                self.token = issue_token(self.ids[self.who])
            self.sign_in()

    def sign_in(self) -> None:
        response = self.client.post("/login", data={"email": f"{self.who}@example.org",
                                                    "password": "correct horse", "csrf_token": self.csrf()})
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]

    def csrf(self) -> str:
        return CSRF_RE.search(self.client.get("/login").get_data(as_text=True)).group(1)

    def get(self, url: str):
        return self.request("GET", url, api=url.startswith("/api/"), form={})

    def request(self, method: str, url: str, api: bool, form: dict):
        if api:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            body = {"json": form} if method in ("POST", "PATCH") else {}
            return self.client.open(url, method=method, headers=headers, **body)
        data = {**form, "csrf_token": self.csrf()} if method == "POST" else None
        response = self.client.open(url, method=method, data=data)
        if self.who and method == "POST" and url in ("/login", "/register", "/logout"):
            self.sign_in()  # those change who is signed in; the next request is the role's again
        return response


@pytest.fixture(scope="module")
def callers(tmp_path_factory):
    made: dict[str, Caller] = {}
    apps = []

    def caller(role: str) -> Caller:
        if role not in made:
            url = f"sqlite:///{tmp_path_factory.mktemp(role)}/commonroom.sqlite3"
            app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "matrix", "FOLLOW": False})
            apps.append(app)
            made[role] = Caller(app, role)
        return made[role]

    yield caller
    for app in apps:
        app.extensions["commonroom"].close()


def url_for_case(app, endpoint: str, case: str, ids: dict[str, str]) -> str:
    _, _, action = case.partition(" ")
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {name: ids[name] for name in rule.arguments if name in ids}
    if action:
        values["action"] = action
    with app.test_request_context():
        return url_for(endpoint, **values)


def classify(response) -> str:
    status = response.status_code
    location = response.headers.get("Location", "")
    if status in (302, 303) and "/login" in location:
        return "login"
    if status == 401:
        return "401"
    if status in (403, 404):
        return "denied"
    return "ok"


def cases():
    for endpoint, table in EXPECTED.items():
        for case, roles in table.items():
            for role in ROLES:
                reason = HOLES.get((endpoint, case, role))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(endpoint, case, role, roles[role], marks=marks,
                                   id=f"{endpoint}-{case.replace(' ', '-')}-{role}")


# --- the matrix -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("endpoint", "case", "role", "expected"), list(cases()))
def test_each_caller_gets_the_expected_outcome_and_never_a_server_error(
        callers, endpoint, case, role, expected):
    # given the caller in their own world
    caller = callers(role)
    method = case.split(" ")[0]
    url = url_for_case(caller.app, endpoint, case, caller.ids)
    # when they send the request
    form = FORMS.get((endpoint, case), lambda ids: {})(caller.ids)
    response = caller.request(method, url, api=url.startswith("/api/"), form=form)
    # then it is never a server error, and authorization answers as the table says
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert classify(response) == expected, (
        f"{method} {url} as {role}: {response.status_code} {response.get_data(as_text=True)[:300]}")


def test_every_route_is_classified(app):
    # given every route the app serves (static files aside), each method and each known action
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            served.add((rule.endpoint, method))
    # then the table classifies exactly those
    classified = {(endpoint, case.split(" ")[0]) for endpoint, table in EXPECTED.items() for case in table}
    assert served - classified == set(), "classify these routes in EXPECTED"
    assert classified - served == set(), "these classified routes no longer exist"


def test_every_action_of_an_action_route_is_classified():
    assert {c.split(" ")[1] for c in EXPECTED["trades.act"]} == set(trade_pages.TRADE_ACTIONS)
    assert {c.split(" ")[1] for c in EXPECTED["trades.act_on_session"]} == set(trade_pages.SESSION_ACTIONS)
    assert {c.split(" ")[1] for c in EXPECTED["programme.organize_action"]} == set(ORGANIZE_ACTIONS)


# --- what the allowed pages show ------------------------------------------------------------------
def test_an_organizer_opens_a_trade_but_never_reads_its_notes(callers):
    # given Ada's trade with Bob, where Ada wrote a confidential note
    party, organizer = callers("party"), callers("organizer")
    # then Ada reads her note on the page and through the API
    assert NOTE in party.get(f"/trades/{party.ids['trade_id']}").get_data(as_text=True)
    mine = party.get(f"/api/v1/trades/{party.ids['trade_id']}").get_json()
    assert NOTE in [n["text"] for n in mine["notes"]]  # the matrix's API case added one more
    # but an organizer, who may open the trade, reads it nowhere
    page = organizer.get(f"/trades/{organizer.ids['trade_id']}")
    assert page.status_code == 200 and NOTE not in page.get_data(as_text=True)
    api = organizer.get(f"/api/v1/trades/{organizer.ids['trade_id']}")
    assert api.status_code == 200 and "notes" not in api.get_json() and NOTE not in api.get_data(as_text=True)


def test_another_peer_does_not_read_a_peers_email_on_her_history_page(callers):
    other = callers("other")
    page = other.get(f"/people/{other.ids['ada']}/history")
    assert page.status_code == 403 and "ada@example.org" not in page.get_data(as_text=True)


def test_another_peer_does_not_learn_who_signed_up_from_a_talks_history(callers):
    # given Bob signed up to Ada's talk; the talk page does not name him to Eve
    other = callers("other")
    assert "Bob" not in other.get(f"/talks/{other.ids['talk_id']}").get_data(as_text=True)
    # then neither does its history
    assert "Bob" not in other.get(f"/talks/{other.ids['talk_id']}/history").get_data(as_text=True)
