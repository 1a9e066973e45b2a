"""The JSON API over HTTP: tokens, peers, talks, sign-ups with a waitlist, attendance, the schedule."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from api_given import api  # noqa: F401  (the fixture)
from support import next_weekday

NOWHERE = "00000000-0000-4000-8000-000000000000"


def saturday_after(day: date) -> date:
    return day + timedelta(days=(5 - day.weekday()) % 7 or 7)


# --- tokens ---------------------------------------------------------------------------------------
def test_the_right_email_and_password_get_a_token_that_names_the_peer(api):
    peer_id, _ = api.peer()
    answer = api.post("/tokens", {"email": "ADA@example.org", "password": "correct horse"})
    assert answer.status_code == 201
    assert answer.json["peer_id"] == str(peer_id)
    me = api.get("/me", {"Authorization": f"Bearer {answer.json['token']}"})
    assert me.json["id"] == str(peer_id)


@pytest.mark.parametrize("email, password", [("ada@example.org", "wrong horse"), ("bob@example.org", "correct horse")])
def test_wrong_credentials_get_401_with_a_clear_error(api, email, password):
    api.peer()
    answer = api.post("/tokens", {"email": email, "password": password})
    assert answer.status_code == 401
    assert answer.json["error"] == "that email and password do not match an account"
    assert "token" not in answer.json


@pytest.mark.parametrize("body, field", [({"password": "x"}, "email"), ({"email": "ada@example.org"}, "password"),
                                         ({"email": 5, "password": "x"}, "email"),
                                         ({"email": "ada@example.org", "password": ["x"]}, "password")])
def test_a_token_request_missing_a_field_is_422_naming_it(api, body, field):
    answer = api.post("/tokens", body)
    assert (answer.status_code, answer.json["field"]) == (422, field)


@pytest.mark.parametrize("method, path", [
    ("post", "/talks"), ("patch", f"/talks/{NOWHERE}"), ("post", f"/talks/{NOWHERE}/schedule"),
    ("post", f"/talks/{NOWHERE}/cancel"), ("post", f"/talks/{NOWHERE}/withdraw"),
    ("post", f"/talks/{NOWHERE}/signups"), ("delete", f"/talks/{NOWHERE}/signups/me"),
    ("post", f"/talks/{NOWHERE}/attendance"), ("post", f"/talks/{NOWHERE}/feedback"), ("get", "/me"),
    ("get", f"/attendance/peers/{NOWHERE}"),
])
def test_writes_without_a_token_get_401_with_a_bearer_challenge(client, method, path):
    answer = getattr(client, method)(f"/api/v1{path}", json={})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in answer.json


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic YWRhOnB3", "Bearer "])
def test_a_forged_or_foreign_authorization_is_refused_even_on_reads(api, header):
    answer = api.get("/talks", {"Authorization": header})
    assert answer.status_code == 401
    assert "invalid_token" in answer.headers["WWW-Authenticate"]


def test_a_token_signed_with_another_key_is_refused(api, app):
    peer_id, _ = api.peer()
    app.config["SECRET_KEY"], real_key = "someone-else", app.config["SECRET_KEY"]
    with app.test_request_context():
        from commonroom.platform.web.security import issue_token

        forged = issue_token(peer_id)
    app.config["SECRET_KEY"] = real_key
    assert api.get("/me", {"Authorization": f"Bearer {forged}"}).status_code == 401


def test_a_browser_session_does_not_authenticate_api_writes(api, auth):
    # given a peer signed in through the HTML form (so a session cookie rides along)
    auth.register()
    # when the browser posts to the API without a token, then the cookie is not enough (no CSRF here)
    answer = api.post("/talks", {"title": "Sneaky talk", "topics": ["x"]})
    assert answer.status_code == 401


# --- peers ----------------------------------------------------------------------------------------
def test_registering_answers_201_with_the_new_peer_and_where_to_find_it(api):
    answer = api.post("/peers", {"name": "  Grace   Hopper ", "email": "Grace@Example.org", "department": "Navy",
                                 "password": "cobol rules", "timezone": "America/New_York"})
    assert answer.status_code == 201
    assert answer.headers["Location"].endswith(f"/api/v1/peers/{answer.json['id']}")
    assert answer.json["name"] == "Grace Hopper"
    assert answer.json["email"] == "grace@example.org"
    assert "password_hash" not in answer.json


def test_registering_an_email_twice_is_409_naming_the_email(api):
    api.peer()
    before = api.head()
    again = api.post("/peers", {"name": "Other Ada", "email": "ada@example.org", "department": "X",
                                "password": "another one"})
    assert (again.status_code, again.json["field"]) == (409, "email")
    assert api.head() == before


@pytest.mark.parametrize("field, value", [
    ("name", ""), ("name", None), ("name", 7), ("name", "x" * 81), ("department", ""), ("email", "not-an-email"),
    ("password", "short"), ("password", 12345678), ("timezone", "Mars/Olympus"), ("timezone", 3),
])
def test_bad_registration_fields_are_422_naming_the_field_and_record_nothing(api, field, value):
    body = {"name": "Ada", "email": "ada@example.org", "department": "Audit", "password": "correct horse",
            field: value}
    before = api.head()
    answer = api.post("/peers", body)
    assert (answer.status_code, answer.json["field"]) == (422, field)
    assert api.head() == before


def test_anonymous_callers_see_names_and_departments_but_never_emails_or_hashes(api):
    api.peer()
    api.peer("Bob Byte")
    peers = api.get("/peers").json["peers"]
    assert [p["name"] for p in peers] == ["Ada Lovelace", "Bob Byte"]
    assert all(set(p) == {"id", "name", "department", "is_organizer"} for p in peers)


def test_a_peer_sees_their_own_email_but_not_another_peers(api):
    ada, ada_auth = api.peer()
    bob, _ = api.peer("Bob Byte")
    assert api.get(f"/peers/{ada}", ada_auth).json["email"] == "ada@example.org"
    assert "email" not in api.get(f"/peers/{bob}", ada_auth).json


def test_organizers_see_everyones_email(api):
    _, boss = api.peer("Olga Organizer", organizer=True)
    bob, _ = api.peer("Bob Byte")
    assert api.get(f"/peers/{bob}", boss).json["email"] == "bob@example.org"
    assert all("email" in p for p in api.get("/peers", boss).json["peers"])


@pytest.mark.parametrize("peer_id", [NOWHERE, "not-a-uuid", str(uuid4())])
def test_unknown_or_malformed_peer_ids_are_404(api, peer_id):
    answer = api.get(f"/peers/{peer_id}")
    assert answer.status_code == 404
    assert answer.json["error"] == "no such peer"


# --- proposing and revising -----------------------------------------------------------------------
@pytest.mark.parametrize("topics", [["testing", "python"], "testing, python"])
def test_proposing_answers_201_with_the_talk_from_the_read_model(api, topics):
    speaker, who = api.peer()
    answer = api.post("/talks", {"title": "Property-based testing", "abstract": "Let the computer find bugs.",
                                 "topics": topics}, who)
    assert answer.status_code == 201
    talk = answer.json
    assert (talk["status"], talk["topics"], talk["speaker"]) == (
        "proposed", ["testing", "python"], {"id": str(speaker), "name": "Ada Lovelace"})
    assert answer.headers["Location"].endswith(f"/api/v1/talks/{talk['id']}")
    assert api.get(f"/talks/{talk['id']}").json == talk


def test_html_in_a_title_is_stored_verbatim_and_stays_text_in_json(api):
    _, who = api.peer()
    title = '<script>alert("x")</script> & <b>friends</b>'
    talk_id = api.talk(who, title=title)
    answer = api.get(f"/talks/{talk_id}")
    assert answer.mimetype == "application/json"
    assert answer.json["title"] == title
    with api.services.engine.connect() as c:
        assert c.exec_driver_sql("SELECT title FROM talks").scalar_one() == title


@pytest.mark.parametrize("field, value", [
    ("title", ""), ("title", "ab"), ("title", "x" * 121), ("title", None), ("title", 7), ("title", ["a title"]),
    ("abstract", 5), ("abstract", "x" * 4001),
    ("topics", 7), ("topics", []), ("topics", ""), ("topics", ["x" * 41]), ("topics", [f"t{i}" for i in range(9)]),
    ("topics", [{"a": 1}]), ("topics", None),
])
def test_bad_proposal_fields_are_422_naming_the_field_and_record_nothing(api, field, value):
    _, who = api.peer()
    before = api.head()
    answer = api.post("/talks", {"title": "A fine talk", "abstract": "", "topics": ["x"], field: value}, who)
    assert (answer.status_code, answer.json["field"]) == (422, field)
    assert api.head() == before


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"), ("[1, 2]", "application/json"), ('"a string"', "application/json"),
    ("title=x", "application/x-www-form-urlencoded"), ("", "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_400(api, data, content_type):
    _, who = api.peer()
    answer = api.client.post("/api/v1/talks", data=data, content_type=content_type, headers=who)
    assert answer.status_code == 400
    assert "JSON object" in answer.json["error"]


def test_the_speaker_revises_only_the_fields_sent(api):
    _, who = api.peer()
    talk_id = api.talk(who, title="Old title", topics=("a", "b"))
    answer = api.patch(f"/talks/{talk_id}", {"title": "New title"}, who)
    assert answer.status_code == 200
    assert (answer.json["title"], answer.json["topics"], answer.json["abstract"]) == (
        "New title", ["a", "b"], "Why priors matter.")


def test_only_the_speaker_may_revise_and_a_refusal_records_nothing(api):
    _, speaker = api.peer()
    _, other = api.peer("Bob Byte")
    _, boss = api.peer("Olga Organizer", organizer=True)
    talk_id = api.talk(speaker)
    before = api.head()
    assert api.patch(f"/talks/{talk_id}", {"title": "Hijacked"}, other).status_code == 403
    assert api.patch(f"/talks/{talk_id}", {"title": "Hijacked"}, boss).status_code == 403
    assert api.patch(f"/talks/{talk_id}", {"title": "Hijacked"}).status_code == 401
    assert api.head() == before
    assert api.get(f"/talks/{talk_id}").json["title"] == "Bayesian coffee"


def test_revising_with_a_null_title_is_422(api):
    _, who = api.peer()
    talk_id = api.talk(who)
    answer = api.patch(f"/talks/{talk_id}", {"title": None}, who)
    assert (answer.status_code, answer.json["field"]) == (422, "title")


@pytest.mark.parametrize("talk_id", [NOWHERE, "42", "not-a-uuid"])
def test_unknown_or_malformed_talk_ids_are_404_for_reads_and_writes(api, talk_id):
    _, who = api.peer()
    assert api.get(f"/talks/{talk_id}").status_code == 404
    assert api.patch(f"/talks/{talk_id}", {"title": "Whatever"}, who).status_code == 404
    assert api.post(f"/talks/{talk_id}/signups", who=who).status_code == 404
    assert api.get(f"/talks/{talk_id}/signups").status_code == 404
    assert api.get(f"/attendance/talks/{talk_id}").status_code == 404


# --- listing --------------------------------------------------------------------------------------
def test_talks_filter_by_status_and_lunch_day(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    soon, later = next_weekday(7), next_weekday(14)
    proposal = api.talk(who, title="Still a proposal")
    first = api.scheduled_talk(who, day=soon, title="Soon")
    second = api.scheduled_talk(who, day=later, title="Later")

    def ids(query: str) -> list[str]:
        answer = api.get(f"/talks{query}")
        assert answer.status_code == 200
        return [t["id"] for t in answer.json["talks"]]

    assert ids("") == [first, second, proposal]
    assert ids("?status=proposed") == [proposal]
    assert ids(f"?status=scheduled&from={later.isoformat()}") == [second]
    assert ids(f"?to={soon.isoformat()}") == [first]


@pytest.mark.parametrize("query, field", [("status=maybe", "status"), ("from=tomorrow", "from"),
                                          ("to=2026-13-01", "to"), ("from=2026-12-02&to=2026-12-01", "to")])
def test_bad_talk_filters_are_422_naming_the_parameter(api, query, field):
    answer = api.get(f"/talks?{query}")
    assert (answer.status_code, answer.json["field"]) == (422, field)


# --- scheduling -----------------------------------------------------------------------------------
def test_the_speaker_schedules_a_talk_into_a_free_lunch_slot(api):
    organizer, _ = api.peer("Olga Organizer", organizer=True)
    api.programme(organizer)
    _, who = api.peer()
    talk_id = api.talk(who)
    day = next_weekday()
    answer = api.post(f"/talks/{talk_id}/schedule", {"day": day.isoformat(), "room_id": "blue-room"}, who)
    assert answer.status_code == 200
    talk = answer.json
    assert (talk["status"], talk["day"], talk["room"]["name"], talk["capacity"]) == (
        "scheduled", day.isoformat(), "Blue room", 5)
    assert talk["starts_at"] == f"{day.isoformat()}T12:00:00+00:00" or talk["starts_at"].startswith(
        f"{day.isoformat()}T12:00:00")


def test_rescheduling_moves_the_talk_and_frees_the_old_slot(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    first, second = next_weekday(7), next_weekday(14)
    talk_id = api.scheduled_talk(who, day=first)
    answer = api.post(f"/talks/{talk_id}/schedule", {"day": second.isoformat(), "room_id": "blue-room"}, who)
    assert (answer.status_code, answer.json["day"], answer.json["sequence"]) == (200, second.isoformat(), 1)
    other = api.talk(who, title="Another talk")
    moved_in = api.post(f"/talks/{other}/schedule", {"day": first.isoformat(), "room_id": "blue-room"}, who)
    assert moved_in.status_code == 200


def test_an_organizer_may_schedule_someone_elses_talk_but_another_peer_may_not(api):
    organizer, boss = api.peer("Olga Organizer", organizer=True)
    api.programme(organizer)
    _, speaker = api.peer()
    _, other = api.peer("Bob Byte")
    talk_id = api.talk(speaker)
    slot = {"day": next_weekday().isoformat(), "room_id": "blue-room"}
    before = api.head()
    assert api.post(f"/talks/{talk_id}/schedule", slot, other).status_code == 403
    assert api.head() == before
    assert api.post(f"/talks/{talk_id}/schedule", slot, boss).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"day": 5, "room_id": "blue-room"}, "day"), ({"day": "next tuesday", "room_id": "blue-room"}, "day"),
    ({"room_id": "blue-room"}, "day"), ({"day": "2020-01-06", "room_id": "blue-room"}, "day"),
    ({"day": "NEXT", "room_id": 3}, "room_id"), ({"day": "NEXT", "room_id": ""}, "room_id"),
    ({"day": "NEXT", "room_id": "broom-cupboard"}, "room_id"), ({"day": "NEXT"}, "room_id"),
])
def test_bad_slots_are_422_naming_the_field_and_record_nothing(api, body, field):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    talk_id = api.talk(who)
    body = {key: next_weekday().isoformat() if value == "NEXT" else value for key, value in body.items()}
    before = api.head()
    answer = api.post(f"/talks/{talk_id}/schedule", body, who)
    assert (answer.status_code, answer.json["field"]) == (422, field)
    assert api.head() == before


def test_a_taken_room_a_weekend_and_a_day_off_are_409(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    _, bob = api.peer("Bob Byte")
    day = next_weekday()
    api.scheduled_talk(bob, day=day)
    api.day_off(organizer, next_weekday(14))
    talk_id = api.talk(who)
    before = api.head()
    for slot_day in (day, saturday_after(day), next_weekday(14)):
        answer = api.post(f"/talks/{talk_id}/schedule", {"day": slot_day.isoformat(), "room_id": "blue-room"}, who)
        assert answer.status_code == 409, slot_day
        assert answer.json["error"]
    assert api.head() == before


def test_scheduling_before_the_programme_started_is_422_for_the_unknown_room(api):
    _, who = api.peer()
    talk_id = api.talk(who)
    answer = api.post(f"/talks/{talk_id}/schedule", {"day": next_weekday().isoformat(), "room_id": "blue-room"}, who)
    assert (answer.status_code, answer.json["field"]) == (422, "room_id")


# --- cancelling and withdrawing -------------------------------------------------------------------
def test_the_speaker_cancels_a_scheduled_talk_with_a_reason(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    talk_id = api.scheduled_talk(who)
    answer = api.post(f"/talks/{talk_id}/cancel", {"reason": "Flu <sorry>"}, who)
    assert (answer.status_code, answer.json["status"]) == (200, "cancelled")
    assert answer.json["cancel_reason"] == "Flu <sorry>"


def test_cancelling_needs_no_body_but_a_bad_reason_is_422(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    talk_id = api.scheduled_talk(who)
    before = api.head()
    answer = api.post(f"/talks/{talk_id}/cancel", {"reason": 7}, who)
    assert (answer.status_code, answer.json["field"]) == (422, "reason")
    too_long = api.post(f"/talks/{talk_id}/cancel", {"reason": "x" * 301}, who)
    assert (too_long.status_code, too_long.json["field"]) == (422, "reason")
    assert api.head() == before
    assert api.client.post(f"/api/v1/talks/{talk_id}/cancel", headers=who).json["status"] == "cancelled"


def test_another_peer_cannot_cancel_and_a_proposal_cannot_be_cancelled(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    _, other = api.peer("Bob Byte")
    scheduled = api.scheduled_talk(who)
    proposal = api.talk(who, title="Only an idea")
    assert api.post(f"/talks/{scheduled}/cancel", {}, other).status_code == 403
    assert api.post(f"/talks/{proposal}/cancel", {}, who).status_code == 409


def test_the_speaker_withdraws_a_proposal_but_not_a_scheduled_talk(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer)
    proposal = api.talk(who, title="Only an idea")
    scheduled = api.scheduled_talk(who)
    answer = api.post(f"/talks/{proposal}/withdraw", who=who)
    assert (answer.status_code, answer.json["status"]) == (200, "withdrawn")
    refused = api.post(f"/talks/{scheduled}/withdraw", who=who)
    assert refused.status_code == 409
    assert "cancel" in refused.json["error"]


# --- sign-ups and the waitlist --------------------------------------------------------------------
def test_signing_up_fills_seats_then_the_waitlist_in_order(api):
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer, rooms=(("Tiny room", 1),))
    talk_id = api.scheduled_talk(speaker, room_id="tiny-room")
    answers = [api.post(f"/talks/{talk_id}/signups", who=api.peer(name)[1])
               for name in ("Bob Byte", "Cy Cipher", "Di Data")]
    assert [(a.status_code, a.json) for a in answers] == [
        (201, {"status": "confirmed", "position": None}),
        (201, {"status": "waitlisted", "position": 1}),
        (201, {"status": "waitlisted", "position": 2}),
    ]


def test_when_a_confirmed_peer_leaves_the_first_on_the_waitlist_gets_the_seat(api):
    # given a one-seat talk with Bob confirmed and Cy then Di waiting
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer, rooms=(("Tiny room", 1),))
    talk_id = api.scheduled_talk(speaker, room_id="tiny-room")
    bob, cy, di = api.audience(talk_id, "Bob Byte", "Cy Cipher", "Di Data")
    # when Bob cancels
    left = api.delete(f"/talks/{talk_id}/signups/me", bob[1])
    # then Cy is promoted, Di moves up, and the speaker's list says so
    assert (left.status_code, left.json["status"]) == (200, "cancelled")
    listing = api.get(f"/talks/{talk_id}/signups", speaker).json
    assert [(s["name"], s["status"], s["position"]) for s in listing["signups"]] == [
        ("Cy Cipher", "confirmed", None), ("Di Data", "waitlisted", 1)]
    assert api.get(f"/talks/{talk_id}/signups", di[1]).json["me"] == {"status": "waitlisted", "position": 1}
    assert (listing["confirmed"], listing["waitlisted"]) == (1, 1)


def test_signing_up_twice_or_to_your_own_talk_is_409_and_records_nothing(api):
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer)
    talk_id = api.scheduled_talk(speaker)
    [(_, bob)] = api.audience(talk_id, "Bob Byte")
    before = api.head()
    assert api.post(f"/talks/{talk_id}/signups", who=bob).status_code == 409
    assert api.post(f"/talks/{talk_id}/signups", who=speaker).status_code == 409
    assert api.delete(f"/talks/{talk_id}/signups/me", speaker).status_code == 409
    assert api.head() == before


def test_a_proposal_is_not_open_for_sign_ups(api):
    _, speaker = api.peer()
    _, bob = api.peer("Bob Byte")
    talk_id = api.talk(speaker)
    answer = api.post(f"/talks/{talk_id}/signups", who=bob)
    assert answer.status_code == 409


def test_who_signed_up_is_shown_to_the_speaker_and_organizers_only(api):
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer)
    _, boss = api.peer("Olga Organizer", organizer=True)
    _, bob = api.peer("Bob Byte")
    _, cy = api.peer("Cy Cipher")
    talk_id = api.scheduled_talk(speaker)
    api.post(f"/talks/{talk_id}/signups", who=bob)
    anonymous = api.get(f"/talks/{talk_id}/signups").json
    assert anonymous == {"talk_id": talk_id, "capacity": 5, "confirmed": 1, "waitlisted": 0}
    assert "signups" not in api.get(f"/talks/{talk_id}/signups", cy).json
    assert api.get(f"/talks/{talk_id}/signups", cy).json["me"] is None
    assert [s["name"] for s in api.get(f"/talks/{talk_id}/signups", boss).json["signups"]] == ["Bob Byte"]


# --- attendance and feedback ----------------------------------------------------------------------
def attended_talk(api, clock):
    """A talk that has started, Bob and Cy confirmed; returns (talk id, speaker, bob, cy)."""
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer)
    talk_id = api.scheduled_talk(speaker)
    bob, cy = api.audience(talk_id, "Bob Byte", "Cy Cipher")
    api.after_start_of(talk_id, clock)
    return talk_id, speaker, bob, cy


def test_the_speaker_records_who_came_and_who_did_not(api, clock):
    talk_id, speaker, bob, cy = attended_talk(api, clock)
    answer = api.post(f"/talks/{talk_id}/attendance", {"attended": {str(bob[0]): True, str(cy[0]): False}}, speaker)
    assert answer.status_code == 200
    assert (answer.json["attended"], answer.json["no_show"]) == (1, 1)
    people = {p["name"]: p["attended"] for p in answer.json["people"]}
    assert people == {"Bob Byte": True, "Cy Cipher": False}


def test_attendance_cannot_be_recorded_before_the_talk_starts(api):
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer)
    talk_id = api.scheduled_talk(speaker)
    [(bob, _)] = api.audience(talk_id, "Bob Byte")
    answer = api.post(f"/talks/{talk_id}/attendance", {"attended": {str(bob): True}}, speaker)
    assert answer.status_code == 409


@pytest.mark.parametrize("attended", [[], {}, "everyone", None, {"not-a-uuid": True}, {"BOB": "yes"}, {"BOB": 1}])
def test_bad_attendance_is_422_naming_attended(api, clock, attended):
    talk_id, speaker, bob, _ = attended_talk(api, clock)
    if isinstance(attended, dict):
        attended = {str(bob[0]) if key == "BOB" else key: value for key, value in attended.items()}
    before = api.head()
    answer = api.post(f"/talks/{talk_id}/attendance", {"attended": attended}, speaker)
    assert (answer.status_code, answer.json["field"]) == (422, "attended")
    assert api.head() == before


def test_one_unknown_peer_in_the_attendance_records_nobody(api, clock):
    talk_id, speaker, bob, _ = attended_talk(api, clock)
    before = api.head()
    answer = api.post(f"/talks/{talk_id}/attendance", {"attended": {str(bob[0]): True, NOWHERE: True}}, speaker)
    assert answer.status_code == 409
    assert api.head() == before
    assert api.get(f"/attendance/talks/{talk_id}").json["attended"] == 0


def test_only_the_speaker_or_an_organizer_records_attendance(api, clock):
    talk_id, _, bob, cy = attended_talk(api, clock)
    answer = api.post(f"/talks/{talk_id}/attendance", {"attended": {str(cy[0]): True}}, bob[1])
    assert answer.status_code == 403


def test_an_attendee_gives_feedback_once_and_the_average_shows(api, clock):
    talk_id, speaker, bob, cy = attended_talk(api, clock)
    api.post(f"/talks/{talk_id}/attendance", {"attended": {str(bob[0]): True, str(cy[0]): True}}, speaker)
    first = api.post(f"/talks/{talk_id}/feedback", {"rating": 5, "comment": "<i>great</i>"}, bob[1])
    assert (first.status_code, first.json["rating"], first.json["comment"]) == (201, 5, "<i>great</i>")
    assert api.post(f"/talks/{talk_id}/feedback", {"rating": 4}, cy[1]).status_code == 201
    assert api.post(f"/talks/{talk_id}/feedback", {"rating": 1}, bob[1]).status_code == 409
    summary = api.get(f"/attendance/talks/{talk_id}").json
    assert summary["feedback"] == {"count": 2, "average": 4.5}
    assert "people" not in summary


@pytest.mark.parametrize("body, field", [
    ({"rating": "five"}, "rating"), ({"rating": 0}, "rating"), ({"rating": 6}, "rating"), ({"rating": True}, "rating"),
    ({"rating": 4.5}, "rating"), ({}, "rating"), ({"rating": 4, "comment": 7}, "comment"),
    ({"rating": 4, "comment": "x" * 2001}, "comment"),
])
def test_bad_feedback_is_422_naming_the_field(api, clock, body, field):
    talk_id, speaker, bob, _ = attended_talk(api, clock)
    api.post(f"/talks/{talk_id}/attendance", {"attended": {str(bob[0]): True}}, speaker)
    before = api.head()
    answer = api.post(f"/talks/{talk_id}/feedback", body, bob[1])
    assert (answer.status_code, answer.json["field"]) == (422, field)
    assert api.head() == before


def test_someone_who_did_not_attend_cannot_give_feedback(api, clock):
    talk_id, speaker, bob, cy = attended_talk(api, clock)
    api.post(f"/talks/{talk_id}/attendance", {"attended": {str(cy[0]): False}}, speaker)
    assert api.post(f"/talks/{talk_id}/feedback", {"rating": 3}, cy[1]).status_code == 403
    assert api.post(f"/talks/{talk_id}/feedback", {"rating": 3}, bob[1]).status_code == 403


def test_a_peers_attendance_record_is_for_them_and_organizers(api, clock):
    talk_id, speaker, bob, cy = attended_talk(api, clock)
    api.post(f"/talks/{talk_id}/attendance", {"attended": {str(bob[0]): True, str(cy[0]): False}}, speaker)
    api.post(f"/talks/{talk_id}/feedback", {"rating": 4}, bob[1])
    own = api.get(f"/attendance/peers/{bob[0]}", bob[1])
    assert own.status_code == 200
    assert {k: own.json[k] for k in ("confirmed", "waitlisted", "attended", "no_show", "feedback_given")} == {
        "confirmed": 1, "waitlisted": 0, "attended": 1, "no_show": 0, "feedback_given": {"count": 1, "average": 4.0}}
    assert own.json["signups"][0]["talk_id"] == talk_id
    assert api.get(f"/attendance/peers/{cy[0]}", speaker).json["no_show"] == 1  # the speaker is an organizer here
    assert api.get(f"/attendance/peers/{cy[0]}", bob[1]).status_code == 403
    assert api.get(f"/attendance/peers/{NOWHERE}", speaker).status_code == 404


def test_a_waitlisted_peer_sees_their_position_in_their_attendance_record(api):
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer, rooms=(("Tiny room", 1),))
    talk_id = api.scheduled_talk(speaker, room_id="tiny-room")
    api.post(f"/talks/{talk_id}/signups", who=api.peer("Bob Byte")[1])
    cy, cy_auth = api.peer("Cy Cipher")
    api.post(f"/talks/{talk_id}/signups", who=cy_auth)
    record = api.get(f"/attendance/peers/{cy}", cy_auth).json
    assert record["waitlisted"] == 1
    assert (record["signups"][0]["status"], record["signups"][0]["position"]) == ("waitlisted", 1)
    assert api.get(f"/attendance/talks/{talk_id}").json["waitlisted"] == 1


# --- the lunch schedule ---------------------------------------------------------------------------
def test_the_schedule_lists_lunch_days_by_room_free_or_taken(api):
    organizer, who = api.peer(organizer=True)
    api.programme(organizer, rooms=(("Blue room", 5), ("Attic", 2)))
    monday = next_weekday(7) - timedelta(days=next_weekday(7).weekday())
    talk_id = api.scheduled_talk(who, day=monday + timedelta(days=1), room_id="attic")
    api.post(f"/talks/{talk_id}/signups", who=api.peer("Bob Byte")[1])
    api.day_off(organizer, monday + timedelta(days=4), "Founders' day")
    answer = api.get(f"/schedule?from={monday.isoformat()}&weeks=1")
    assert answer.status_code == 200
    days = answer.json["days"]
    assert [d["date"] for d in days] == [(monday + timedelta(days=n)).isoformat() for n in range(5)]
    tuesday = days[1]["slots"]
    assert [(s["room"]["id"], s["free"]) for s in tuesday] == [("attic", False), ("blue-room", True)]
    assert tuesday[0]["talk"]["id"] == talk_id
    assert (tuesday[0]["talk"]["confirmed"], tuesday[0]["talk"]["seats_left"]) == (1, 1)
    assert (days[4]["day_off"], days[4]["slots"]) == ("Founders' day", [])
    assert answer.json["programme"]["lunch_start"] == "12:00"


def test_the_schedule_follows_the_weekdays_in_force_on_each_date(api):
    organizer, _ = api.peer(organizer=True)
    api.programme(organizer)
    monday = next_weekday(14) - timedelta(days=next_weekday(14).weekday())
    services = api.services
    services.programme.change(lambda p: p.change_weekdays([2], monday, by=organizer), by=organizer)
    services.settle()
    answer = api.get(f"/schedule?from={(monday - timedelta(days=7)).isoformat()}&weeks=2").json
    dates = [d["date"] for d in answer["days"]]
    assert dates == [(monday - timedelta(days=7 - n)).isoformat() for n in range(5)] + [
        (monday + timedelta(days=2)).isoformat()]


def test_the_schedule_is_empty_before_the_programme_starts(api):
    assert api.get("/schedule").json == {"programme": None, "from": None, "to": None, "days": []}


@pytest.mark.parametrize("query, field", [("weeks=0", "weeks"), ("weeks=13", "weeks"), ("weeks=two", "weeks"),
                                          ("from=someday", "from")])
def test_bad_schedule_parameters_are_422(api, query, field):
    organizer, _ = api.peer(organizer=True)
    api.programme(organizer)
    answer = api.get(f"/schedule?{query}")
    assert (answer.status_code, answer.json["field"]) == (422, field)


# --- the edges ------------------------------------------------------------------------------------
def test_unknown_api_routes_and_methods_answer_json(api):
    missing = api.get("/nothing-here")
    assert (missing.status_code, missing.mimetype) == (404, "application/json")
    wrong = api.get(f"/talks/{NOWHERE}/schedule")
    assert (wrong.status_code, wrong.mimetype) == (405, "application/json")


def test_a_command_that_stays_busy_is_503_with_a_retry_hint_and_records_nothing(api, monkeypatch):
    from commonroom.platform import services as services_module

    _, who = api.peer()
    # given every attempt at a command is used up (as when others keep winning the race)
    monkeypatch.setattr(services_module, "MAX_ATTEMPTS", 0)
    before = api.head()
    # when a talk is proposed, then the caller is told to retry and nothing was recorded
    answer = api.post("/talks", {"title": "A fine talk", "topics": ["x"]}, who)
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")
    assert "try again" in answer.json["error"]
    assert api.head() == before


@pytest.fixture
def pg_api(pg_url, clock):
    from api_given import Api

    from commonroom.platform.app import create_app

    flask_app = create_app({"TESTING": True, "DATABASE_URL": pg_url, "SECRET_KEY": "test-secret", "FOLLOW": False,
                            "CLOCK": clock})
    yield Api(flask_app.test_client(), flask_app)
    flask_app.extensions["commonroom"].close()


@pytest.mark.postgres
def test_the_talk_lifecycle_through_the_api_on_postgresql(pg_api, clock):
    # given a one-seat talk on PostgreSQL with Bob confirmed and Cy waiting
    api = pg_api
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer, rooms=(("Tiny room", 1),))
    day = next_weekday()
    talk_id = api.scheduled_talk(speaker, day=day, room_id="tiny-room")
    bob, cy = api.audience(talk_id, "Bob Byte", "Cy Cipher")
    talk = api.get(f"/talks/{talk_id}").json
    assert talk["starts_at"].startswith(f"{day.isoformat()}T12:00:00")
    # when Bob leaves, Cy gets the seat, comes, and rates the talk
    api.delete(f"/talks/{talk_id}/signups/me", bob[1])
    api.after_start_of(talk_id, clock)
    api.post(f"/talks/{talk_id}/attendance", {"attended": {str(cy[0]): True}}, speaker)
    assert api.post(f"/talks/{talk_id}/feedback", {"rating": 4}, cy[1]).status_code == 201
    # then the schedule and the attendance read models agree
    slot = api.get(f"/schedule?from={day.isoformat()}&weeks=1").json["days"][0]["slots"][0]
    assert (slot["talk"]["id"], slot["talk"]["confirmed"], slot["talk"]["waitlisted"]) == (talk_id, 1, 0)
    summary = api.get(f"/attendance/talks/{talk_id}").json
    assert (summary["confirmed"], summary["attended"], summary["feedback"]) == (1, 1, {"count": 1, "average": 4.0})
