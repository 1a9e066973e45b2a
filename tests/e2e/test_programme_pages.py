"""The programme calendar and the organizer's page, driven through HTML forms."""

from datetime import date, timedelta

import pytest

from support import next_weekday


def head(app) -> int:
    return app.extensions["commonroom"].store.max_notification_id()


def sign_in_organizer(auth):
    auth.register(name="Olga Organizer", email="olga@example.org")
    auth.make_organizer()


def set_up_programme(auth, rooms=(("Blue room", "5"),)):
    """The organizer starts a Mon-Fri programme from today with the given rooms, via the page."""
    auth.post("/organize/start", {"name": "Mini-scule", "timezone": "Europe/London",
                                  "lunch_start": "12:00", "lunch_minutes": "30"})
    auth.post("/organize/weekdays", {"weekdays": ["0", "1", "2", "3", "4"],
                                     "effective_from": date.today().isoformat()})
    for name, capacity in rooms:
        auth.post("/organize/add-room", {"room": name, "capacity": capacity})


def test_the_calendar_says_when_the_programme_has_not_started(client, auth):
    assert "has not been started" in client.get("/programme").get_data(as_text=True)
    sign_in_organizer(auth)
    page = client.get("/programme").get_data(as_text=True)
    assert 'id="organize-link"' in page


def test_an_organizer_sets_up_the_programme_and_sees_free_slots(client, auth):
    # given an organizer
    sign_in_organizer(auth)
    # when they start the programme, choose weekdays and add a room on the organize page
    response = auth.post("/organize/start", {"name": "Mini-scule", "timezone": "Europe/London",
                                             "lunch_start": "12:30", "lunch_minutes": "45"})
    assert response.status_code == 303
    assert "The programme has started" in client.get("/organize").get_data(as_text=True)
    auth.post("/organize/weekdays", {"weekdays": ["1", "3"], "effective_from": date.today().isoformat()})
    auth.post("/organize/add-room", {"room": "Blue room", "capacity": "12"})
    # then the calendar shows free Blue room slots on Tuesdays and Thursdays only
    page = client.get("/programme?weeks=2").get_data(as_text=True)
    tuesday = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=8)  # next week's
    assert f'data-slot="{tuesday.isoformat()}|blue-room"' in page
    assert f'data-slot="{(tuesday - timedelta(days=1)).isoformat()}|blue-room"' not in page
    assert "Take this slot" in page and "12:30" in page


def test_weeks_query_moves_through_the_calendar_with_previous_and_next_links(client, auth):
    sign_in_organizer(auth)
    set_up_programme(auth)
    monday = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=21)
    page = client.get(f"/programme?week={(monday + timedelta(days=2)).isoformat()}&weeks=1").get_data(as_text=True)
    assert f'id="week-{monday.isoformat()}"' in page
    assert f"week={(monday + timedelta(days=7)).isoformat()}" in page
    assert f"week={(monday - timedelta(days=7)).isoformat()}" in page


@pytest.mark.parametrize("query", ["week=notadate", "weeks=0", "weeks=13", "weeks=many"])
def test_a_bad_calendar_query_is_a_clear_422(client, auth, query):
    sign_in_organizer(auth)
    set_up_programme(auth)
    assert client.get(f"/programme?{query}").status_code == 422


def test_a_day_off_shows_its_reason_instead_of_slots(client, auth):
    sign_in_organizer(auth)
    set_up_programme(auth)
    day = next_weekday(9)
    auth.post("/organize/add-day-off", {"day": day.isoformat(), "reason": "Staff away-day"})
    page = client.get(f"/programme?week={day.isoformat()}&weeks=1").get_data(as_text=True)
    assert "Day off: Staff away-day" in page and f'data-slot="{day.isoformat()}|blue-room"' not in page
    # when the day off is removed, the slot is back
    auth.post("/organize/remove-day-off", {"day": day.isoformat()})
    page = client.get(f"/programme?week={day.isoformat()}&weeks=1").get_data(as_text=True)
    assert f'data-slot="{day.isoformat()}|blue-room"' in page


def test_an_organizer_changes_capacity_lunch_time_and_removes_a_room(client, auth):
    sign_in_organizer(auth)
    set_up_programme(auth, rooms=(("Blue room", "5"), ("Green room", "8")))
    auth.post("/organize/room-capacity", {"room_id": "blue-room", "capacity": "20"})
    auth.post("/organize/lunch", {"lunch_start": "13:15", "lunch_minutes": "40"})
    auth.post("/organize/remove-room", {"room_id": "green-room"})
    page = client.get("/organize").get_data(as_text=True)
    assert 'value="20"' in page and "13:15" in page and "Green room" not in page


@pytest.mark.parametrize("action, data, field", [
    ("add-room", {"room": "Annex", "capacity": "abc"}, "capacity"),
    ("add-room", {"room": "Annex", "capacity": "0"}, "capacity"),
    ("add-room", {"room": "Annex", "capacity": "9999"}, "capacity"),
    ("add-room", {"room": "", "capacity": "5"}, "room"),
    ("room-capacity", {"room_id": "blue-room", "capacity": "-3"}, "capacity"),
    ("weekdays", {"effective_from": "2099-01-01"}, "weekdays"),
    ("weekdays", {"weekdays": ["5"], "effective_from": "2099-01-01"}, "weekdays"),
    ("weekdays", {"weekdays": ["1"], "effective_from": "2001-01-01"}, "effective_from"),
    ("weekdays", {"weekdays": ["1"], "effective_from": "31/12/2099"}, "effective_from"),
    ("lunch", {"lunch_start": "noon", "lunch_minutes": "30"}, "lunch_start"),
    ("lunch", {"lunch_start": "12:00", "lunch_minutes": "500"}, "lunch_minutes"),
    ("add-day-off", {"day": "2001-02-03", "reason": "Long ago"}, "day"),
    ("add-day-off", {"day": "not a date", "reason": "x"}, "day"),
    ("add-day-off", {"day": "2099-02-03", "reason": "r" * 200}, "reason"),
])
def test_bad_organizer_input_names_the_field_with_422_and_writes_nothing(app, client, auth, action, data, field):
    # given a running programme
    sign_in_organizer(auth)
    set_up_programme(auth)
    before = head(app)
    # when the organizer submits bad input
    response = auth.post(f"/organize/{action}", data)
    # then the page comes back with the message next to the field, and nothing was recorded
    assert response.status_code == 422
    assert f'id="e-{field}"' in response.get_data(as_text=True)
    assert head(app) == before


def test_starting_the_programme_with_a_bad_timezone_names_it(app, auth):
    sign_in_organizer(auth)
    before = head(app)
    response = auth.post("/organize/start", {"name": "Mini", "timezone": "Mars/Olympus",
                                             "lunch_start": "12:00", "lunch_minutes": "30"})
    assert response.status_code == 422 and 'id="e-timezone"' in response.get_data(as_text=True)
    assert head(app) == before


def test_only_organizers_organize(client, auth):
    # anonymous visitors are sent to sign in
    assert client.get("/organize").status_code == 302
    # a peer who is not an organizer is refused, and cannot post either
    auth.register()
    assert client.get("/organize").status_code == 403
    assert auth.post("/organize/add-room", {"room": "Mine", "capacity": "3"}).status_code == 403


def test_an_unknown_organize_action_is_not_found(auth):
    sign_in_organizer(auth)
    assert auth.post("/organize/explode", {}).status_code == 404
