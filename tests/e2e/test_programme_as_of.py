"""The programme as it stood on a past day."""

from datetime import date, timedelta

from support import my_scheduled_talk, next_weekday


def test_the_programme_as_of_a_day_shows_the_talks_as_they_were_then(app, client, auth):
    # Given a talk scheduled today, then signed up for and renamed
    my_scheduled_talk(app, auth, "Old title", "history", next_weekday(7))
    # When I look at today's programme as of today and as of last year
    today = client.get(f"/programme?as_of={date.today().isoformat()}").get_data(as_text=True)
    before = client.get(f"/programme?as_of={(date.today() - timedelta(days=365)).isoformat()}")
    # Then today's shows the talk scheduled in its room, last year's shows none
    assert "Old title" in today and "Blue room" in today and "scheduled" in today
    assert "No talks had been proposed by then" in before.get_data(as_text=True)


def test_a_malformed_as_of_date_is_a_422_naming_the_field(client):
    response = client.get("/programme?as_of=yesterday")
    assert response.status_code == 422
    assert "as_of" in response.get_data(as_text=True)
