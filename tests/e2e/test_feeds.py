"""iCalendar feeds: the programme's and each peer's, parsed back with icalendar."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from support import next_weekday, start_programme

TALK = {"abstract": "Priors for the sceptical.", "topics": "statistics"}


def join(auth, name: str) -> None:
    auth.logout()
    auth.register(name=name, email=f"{name.lower().split()[0]}@example.org")


def scheduled(auth, title: str, day) -> str:
    talk_id = auth.post("/talks/new", {**TALK, "title": title}).headers["Location"].rsplit("/", 1)[1]
    assert auth.post(f"/talks/{talk_id}/schedule", {"slot": f"{day.isoformat()}|blue-room"}).status_code == 303
    return talk_id


def events(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def a_programme_with_sams_talk(app, auth, day):
    join(auth, "Olga Organizer")
    auth.make_organizer()
    start_programme(app.extensions["commonroom"], auth.peer_id(), rooms=(("Blue room", 5),))
    join(auth, "Sam Speaker")
    return scheduled(auth, "Bayesian audits", day)


def test_the_programme_feed_has_one_event_per_talk_with_utc_times_and_details(app, client, auth):
    day = next_weekday(7)
    talk_id = a_programme_with_sams_talk(app, auth, day)
    event = events(client, "/programme.ics")[f"{talk_id}@commonroom"]
    starts = event.decoded("DTSTART")
    assert starts.tzinfo is not None and starts.utcoffset() == timedelta(0)
    local = starts.astimezone(ZoneInfo("Europe/London"))
    assert (local.date(), local.hour, local.minute) == (day, 12, 0)
    assert event.decoded("DTEND") - starts == timedelta(minutes=30)
    assert str(event["SUMMARY"]) == "Bayesian audits" and str(event["LOCATION"]) == "Blue room"
    assert "Priors for the sceptical." in str(event["DESCRIPTION"])
    assert str(event["URL"]).endswith(f"/talks/{talk_id}") and int(event["SEQUENCE"]) == 0


def test_a_reschedule_keeps_the_uid_and_grows_the_sequence_and_a_cancel_marks_it(app, client, auth):
    # given a scheduled talk in the feed
    day = next_weekday(7)
    talk_id = a_programme_with_sams_talk(app, auth, day)
    uid = f"{talk_id}@commonroom"
    first = events(client, "/programme.ics")[uid]
    # when the speaker moves it to another day
    later = next_weekday(14)
    auth.post(f"/talks/{talk_id}/schedule", {"slot": f"{later.isoformat()}|blue-room"})
    moved = events(client, "/programme.ics")[uid]
    # then the same event has a later start and a higher sequence
    assert moved.decoded("DTSTART") > first.decoded("DTSTART")
    assert int(moved["SEQUENCE"]) > int(first["SEQUENCE"])
    # and when it is cancelled it stays, marked cancelled, with a higher sequence still
    auth.post(f"/talks/{talk_id}/cancel", {"reason": "Speaker is ill"})
    cancelled = events(client, "/programme.ics")[uid]
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) > int(moved["SEQUENCE"])


def test_proposals_are_not_in_the_feed(app, client, auth):
    a_programme_with_sams_talk(app, auth, next_weekday(7))
    auth.post("/talks/new", {**TALK, "title": "Unscheduled idea"})
    assert all(str(e["SUMMARY"]) != "Unscheduled idea" for e in events(client, "/programme.ics").values())


def test_a_personal_feed_has_my_talks_and_my_sign_ups_only(app, client, auth):
    # given Sam's two talks, and Bea signed up for the second
    first = a_programme_with_sams_talk(app, auth, next_weekday(7))
    second = scheduled(auth, "Second talk", next_weekday(14))
    sam = auth.peer_id()
    join(auth, "Bea Second")
    bea = auth.peer_id()
    auth.post(f"/talks/{second}/sign-up")
    # then Sam's feed (read by a calendar app, with its secret token) has both, Bea's only hers
    assert set(events(client, private_feed(app, sam))) == {f"{first}@commonroom", f"{second}@commonroom"}
    assert set(events(client, private_feed(app, bea))) == {f"{second}@commonroom"}
    # and when she cancels her sign-up, it leaves her feed
    auth.post(f"/talks/{second}/cancel-sign-up")
    assert events(client, private_feed(app, bea)) == {}


def private_feed(app, peer_id) -> str:
    from commonroom.platform.web.security import feed_token

    with app.test_request_context():
        return f"/calendar/{peer_id}.ics?token={feed_token(peer_id)}"


def test_a_personal_feed_needs_its_token_or_its_owner_signed_in(app, client, auth):
    # given Bea signed in, and Sam's feed
    join(auth, "Sam Speaker")
    sam = auth.peer_id()
    assert client.get(f"/calendar/{sam}.ics").status_code == 200  # his own, signed in
    join(auth, "Bea Second")
    # then Bea cannot read Sam's feed without its token, nor with a token made for someone else
    assert client.get(f"/calendar/{sam}.ics").status_code == 404
    forged = private_feed(app, auth.peer_id()).split("?")[1]
    assert client.get(f"/calendar/{sam}.ics?{forged}").status_code == 404
    # and the link on her own page carries her token
    page = client.get("/me").get_data(as_text=True)
    assert private_feed(app, auth.peer_id()).split("?")[1] in page


def test_a_malformed_personal_feed_id_is_not_found(client):
    assert client.get("/calendar/not-a-peer.ics").status_code == 404


def test_feed_times_are_utc_even_in_summer_time(app, client, auth):
    # given a talk on a summer weekday (London is UTC+1 then), scheduled while it is still ahead
    join(auth, "Olga Organizer")
    auth.make_organizer()
    start_programme(app.extensions["commonroom"], auth.peer_id(), rooms=(("Blue room", 5),))
    summer = next_weekday(7)
    summer = summer.replace(year=summer.year + 1, month=7, day=1)
    while summer.weekday() > 4:
        summer += timedelta(days=1)
    join(auth, "Sam Speaker")
    talk_id = scheduled(auth, "Summer talk", summer)
    starts = events(client, "/programme.ics")[f"{talk_id}@commonroom"].decoded("DTSTART")
    assert (starts.hour, starts.minute, starts.utcoffset()) == (11, 0, timedelta(0))


@pytest.mark.postgres
def test_on_postgresql_the_feed_and_the_talk_page_show_the_same_lunchtime(pg_url, clock, auth):
    # given the app on PostgreSQL, which keeps instants (SQLite keeps wall times)
    from commonroom.platform.app import create_app

    AuthActions = type(auth)  # the conftest helper class, driven against this PostgreSQL app

    app = create_app({"TESTING": True, "DATABASE_URL": pg_url, "SECRET_KEY": "test", "FOLLOW": False, "CLOCK": clock})
    try:
        client = app.test_client()
        auth = AuthActions(client, app)
        day = next_weekday(7)
        # when Sam schedules a talk at the programme's noon (Europe/London)
        talk_id = a_programme_with_sams_talk(app, auth, day)
        # then the feed has it at noon London time, in UTC, and the page says 12:00
        starts = events(client, "/programme.ics")[f"{talk_id}@commonroom"].decoded("DTSTART")
        local = starts.astimezone(ZoneInfo("Europe/London"))
        assert (local.date(), local.hour, starts.utcoffset()) == (day, 12, timedelta(0))
        assert "12:00" in client.get(f"/talks/{talk_id}").get_data(as_text=True)
    finally:
        app.extensions["commonroom"].close()
