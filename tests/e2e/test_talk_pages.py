"""Talk pages end to end: propose, schedule, sign up, waitlist, attendance, feedback.

Key selectors (stable, for the browser tests):

- ``/talks/new`` (propose) and ``/talks/<id>/edit`` (revise): ``form#talk-form`` with inputs
  ``#f-title``, ``#f-abstract`` (textarea), ``#f-topics``; submit button "Propose"
  (``#propose-talk``) or "Save changes" (``#save-talk``). A field error is ``small#e-<field>``
  and the input gets ``aria-invalid="true"``.
- ``/talks/mine``: one ``article.my-talk#talk-<talk id>`` per talk, ``.status`` badge, a
  ``form.schedule-form`` with ``select[name=slot]#slot-<talk id>`` (values ``YYYY-MM-DD|room_id``)
  and a button "Schedule" (or "Reschedule"), a ``a.revise`` link, "Withdraw" button for a proposal,
  ``form.cancel-form`` with ``input[name=reason]`` and button "Cancel talk" for a scheduled one.
- ``/programme``: ``section.week#week-<monday>``, ``article.lunch-day#day-<date>``,
  ``div.slot[data-slot="<date>|<room id>"]`` (class ``free`` or ``taken``); a free future slot
  has the link "Take this slot" (``a.take-slot``) to ``/talks/take?slot=...``: ``select#talk_id``
  and button "Schedule" (``#schedule-button``).
- ``/talks/<id>``: ``#talk-title``, ``#talk-status``, ``#talk-when``, ``#talk-room``,
  ``#seats-taken`` ("N/M seats taken"), ``#waitlist-length`` ("N on the waitlist"),
  ``#sign-up-state``; buttons "Sign up" (``#sign-up``), "Cancel my sign-up" (``#cancel-sign-up``),
  "Leave the waitlist" (``#leave-waitlist``); ``#speaker-note`` for the speaker. Speaker and
  organizers see ``section#attendees`` with ``ol#confirmed-list`` and ``ol#waitlist``
  (``li[data-peer-id]``), and after the start ``form#attendance-form`` with radios
  ``attended-<peer id>`` = ``yes``/``no`` and button "Record attendance". Attendees who came see
  ``form#feedback-form`` (``#f-rating``, ``#f-comment``, "Send feedback"), then ``#my-feedback``;
  ``#feedback-summary`` shows the average. Errors from buttons show as ``p.flash.error``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from commonroom.projections.schedule import TalkRow
from support import next_weekday, start_programme

TALK = {"title": "Bayesian audits", "abstract": "Priors for the sceptical.", "topics": "statistics, audit"}


def head(app) -> int:
    return app.extensions["commonroom"].store.max_notification_id()


def join(auth, name: str) -> None:
    auth.logout()
    auth.register(name=name, email=f"{name.lower().split()[0]}@example.org")


def propose(auth, **changes) -> str:
    response = auth.post("/talks/new", {**TALK, **changes})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]


def a_running_programme(app, auth, capacity=1) -> None:
    """An organizer (Olga) runs a Mon-Fri programme with one room; then she signs out."""
    join(auth, "Olga Organizer")
    auth.make_organizer()
    start_programme(app.extensions["commonroom"], auth.peer_id(), rooms=(("Blue room", capacity),))


def scheduled_talk(app, auth, capacity=1, day=None) -> str:
    """Sam proposes a talk and schedules it into the Blue room; Sam stays signed in."""
    a_running_programme(app, auth, capacity)
    join(auth, "Sam Speaker")
    talk_id = propose(auth)
    slot = f"{(day or next_weekday(7)).isoformat()}|blue-room"
    response = auth.post(f"/talks/{talk_id}/schedule", {"slot": slot})
    assert response.status_code == 303, response.get_data(as_text=True)
    return talk_id


def talk_row(app, talk_id: str) -> TalkRow:
    """The talk as the read models hold it once they have caught up (a form POST only records the
    event; the read models follow, and the next page settles them for its own session)."""
    app.extensions["commonroom"].settle()
    with app.extensions["commonroom"].engine.connect() as c:
        return c.execute(sa.select(TalkRow).where(TalkRow.id == talk_id)).one()


def page(client, url: str) -> str:
    return client.get(url).get_data(as_text=True)


# --- proposing -------------------------------------------------------------------------------------
def test_a_peer_proposes_a_talk_and_lands_on_its_page(client, auth):
    auth.register()
    talk_id = propose(auth)
    text = page(client, f"/talks/{talk_id}")
    assert "Bayesian audits" in text and "Priors for the sceptical." in text and "statistics" in text
    assert "Not scheduled yet" in text


def test_proposing_needs_a_signed_in_peer(client):
    assert client.get("/talks/new").status_code == 302
    assert client.get("/talks/mine").status_code == 302


def test_bad_proposals_name_the_field_and_write_nothing(app, auth):
    auth.register()
    before = head(app)
    for changes, field in [({"title": ""}, "title"), ({"title": "x" * 121}, "title"),
                           ({"topics": " , "}, "topics"), ({"abstract": "a" * 4001}, "abstract")]:
        response = auth.post("/talks/new", {**TALK, **changes})
        assert response.status_code == 422
        assert f'id="e-{field}"' in response.get_data(as_text=True)
    assert head(app) == before


def test_html_in_a_title_is_shown_escaped(client, auth):
    auth.register()
    talk_id = propose(auth, title="<script>alert(1)</script> tricks")
    text = page(client, f"/talks/{talk_id}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; tricks" in text and "<script>alert" not in text


def test_only_the_speaker_revises_their_talk(client, auth):
    # given Ada's talk
    auth.register()
    talk_id = propose(auth)
    assert auth.post(f"/talks/{talk_id}/edit", {**TALK, "title": "Bayesian audits, revised"}).status_code == 303
    assert "Bayesian audits, revised" in page(client, f"/talks/{talk_id}")
    # when Bob tries to edit it
    join(auth, "Bob Other")
    assert client.get(f"/talks/{talk_id}/edit").status_code == 403
    assert auth.post(f"/talks/{talk_id}/edit", {**TALK, "title": "Hijacked"}).status_code == 403
    # then nothing changed
    assert "Hijacked" not in page(client, f"/talks/{talk_id}")


def test_unknown_or_malformed_talk_ids_are_not_found(client, auth):
    assert client.get("/talks/not-a-uuid").status_code == 404
    assert client.get("/talks/00000000-0000-0000-0000-000000000001").status_code == 404
    auth.register()
    assert auth.post("/talks/not-a-uuid/sign-up").status_code == 404


# --- scheduling ------------------------------------------------------------------------------------
def test_a_speaker_schedules_a_proposal_and_the_calendar_shows_it(app, client, auth):
    day = next_weekday(7)
    talk_id = scheduled_talk(app, auth, capacity=3, day=day)
    calendar = page(client, f"/programme?week={day.isoformat()}&weeks=1")
    assert f"/talks/{talk_id}" in calendar and "0/3 seats" in calendar
    text = page(client, f"/talks/{talk_id}")
    assert "12:00" in text and "Blue room" in text and "0/3 seats taken" in text
    assert 'id="speaker-note"' in text


def test_the_slot_chooser_lists_only_free_slots(app, client, auth):
    day = next_weekday(7)
    scheduled_talk(app, auth, day=day)
    propose(auth, title="Second talk")
    text = page(client, "/talks/mine")
    assert f'value="{day.isoformat()}|blue-room"' not in text
    assert f'value="{(day + timedelta(days=1 if day.weekday() < 4 else 3)).isoformat()}|blue-room"' in text


def test_taking_a_free_slot_from_the_calendar_schedules_a_proposal(app, client, auth):
    a_running_programme(app, auth)
    join(auth, "Sam Speaker")
    talk_id = propose(auth)
    slot = f"{next_weekday(10).isoformat()}|blue-room"
    text = page(client, f"/talks/take?slot={slot}")
    assert "Bayesian audits" in text and f"{next_weekday(10):%A %d %B %Y} at 12:00 · Blue room" in text
    assert auth.post("/talks/take", {"slot": "nonsense", "talk_id": talk_id}).status_code == 422
    assert auth.post("/talks/take", {"slot": slot, "talk_id": "not-an-id"}).status_code == 422
    response = auth.post("/talks/take", {"slot": slot, "talk_id": talk_id})
    assert response.status_code == 303 and talk_row(app, talk_id).status == "scheduled"


def test_scheduling_into_a_taken_past_or_unknown_slot_is_refused_and_changes_nothing(app, client, auth):
    day = next_weekday(7)
    scheduled_talk(app, auth, day=day)
    other = propose(auth, title="Second talk")
    before = head(app)
    for slot, status in [(f"{day.isoformat()}|blue-room", 409), ("2001-01-01|blue-room", 409),
                         (f"{day.isoformat()}|no-such-room", 404), ("garbage", 422), ("", 422)]:
        assert auth.post(f"/talks/{other}/schedule", {"slot": slot}).status_code == status, slot
    assert head(app) == before and talk_row(app, other).status == "proposed"


def test_a_too_long_cancel_reason_is_refused_and_the_talk_stays_scheduled(app, client, auth):
    talk_id = scheduled_talk(app, auth)
    response = auth.post(f"/talks/{talk_id}/cancel", {"reason": "r" * 301})
    assert response.status_code == 422 and "at most 300 characters" in response.get_data(as_text=True)
    assert talk_row(app, talk_id).status == "scheduled"


def test_only_the_speaker_schedules_withdraws_or_cancels(app, client, auth):
    talk_id = scheduled_talk(app, auth)
    join(auth, "Bob Other")
    assert auth.post(f"/talks/{talk_id}/cancel", {"reason": "mine now"}).status_code == 403
    assert auth.post(f"/talks/{talk_id}/withdraw").status_code == 403
    assert auth.post(f"/talks/{talk_id}/schedule", {"slot": f"{next_weekday(12)}|blue-room"}).status_code == 403
    assert talk_row(app, talk_id).status == "scheduled"


def test_a_speaker_withdraws_a_proposal_and_cancels_a_scheduled_talk_with_a_reason(app, client, auth):
    talk_id = scheduled_talk(app, auth)
    proposal = propose(auth, title="Maybe later")
    auth.post(f"/talks/{proposal}/withdraw")
    auth.post(f"/talks/{talk_id}/cancel", {"reason": "Speaker is ill"})
    mine = page(client, "/talks/mine")
    assert "withdrawn" in mine and "Cancelled: Speaker is ill" in mine
    assert "Speaker is ill" in page(client, f"/talks/{talk_id}")


# --- sign-ups --------------------------------------------------------------------------------------
def test_sign_up_fills_the_seat_then_the_next_is_waitlisted_and_promoted_on_cancel(app, client, auth):
    # given a scheduled talk with one seat
    talk_id = scheduled_talk(app, auth, capacity=1)
    url = f"/talks/{talk_id}"
    # when Bea signs up she takes the seat
    join(auth, "Bea Second")
    auth.post(f"{url}/sign-up")
    text = page(client, url)
    assert "You're confirmed" in text and "1/1 seats taken" in text and "Cancel my sign-up" in text
    # and Cy, third, is waitlisted
    join(auth, "Cy Third")
    auth.post(f"{url}/sign-up")
    text = page(client, url)
    assert "waitlisted, position 1" in text and "1 on the waitlist" in text and "Leave the waitlist" in text
    # when Bea cancels, Cy is promoted
    auth.logout()
    auth.login(email="bea@example.org")
    auth.post(f"{url}/cancel-sign-up")
    auth.logout()
    auth.login(email="cy@example.org")
    text = page(client, url)
    assert "You're confirmed" in text and "0 on the waitlist" in text


def test_signing_up_twice_is_a_flash_not_an_error_page(app, client, auth):
    talk_id = scheduled_talk(app, auth, capacity=3)
    join(auth, "Bea Second")
    auth.post(f"/talks/{talk_id}/sign-up")
    response = auth.post(f"/talks/{talk_id}/sign-up", follow_redirects=True)
    assert "already signed up" in response.get_data(as_text=True)
    assert talk_row(app, talk_id).confirmed == 1


def test_the_speaker_sees_attendees_in_order_and_cannot_sign_up(app, client, auth):
    talk_id = scheduled_talk(app, auth, capacity=1)
    for name in ("Bea Second", "Cy Third"):
        join(auth, name)
        auth.post(f"/talks/{talk_id}/sign-up")
    assert 'id="attendees"' not in page(client, f"/talks/{talk_id}")
    auth.logout()
    auth.login(email="sam@example.org")
    text = page(client, f"/talks/{talk_id}")
    confirmed = text.split('id="confirmed-list"')[1].split("</ol>")[0]
    waitlist = text.split('id="waitlist"')[1].split("</ol>")[0]
    assert "Bea Second" in confirmed and "Cy Third" in waitlist
    assert 'id="sign-up"' not in text and "cannot sign up to your own talk" in text
    response = auth.post(f"/talks/{talk_id}/sign-up", follow_redirects=True)
    assert "speakers cannot sign up" in response.get_data(as_text=True)


# --- after the talk --------------------------------------------------------------------------------
def test_attendance_after_the_start_then_feedback_once(app, client, auth, clock):
    # given Bea signed up for Sam's talk
    day = next_weekday(7)
    talk_id = scheduled_talk(app, auth, capacity=2, day=day)
    join(auth, "Bea Second")
    bea = str(auth.peer_id())
    auth.post(f"/talks/{talk_id}/sign-up")
    auth.logout()
    auth.login(email="sam@example.org")
    # before the start there is no attendance form, and recording is refused
    assert 'id="attendance-form"' not in page(client, f"/talks/{talk_id}")
    response = auth.post(f"/talks/{talk_id}/attendance", {f"attended-{bea}": "yes"})
    assert response.status_code == 409
    # when the talk has started, Sam records that Bea came
    clock.set(datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=13))
    assert 'id="attendance-form"' in page(client, f"/talks/{talk_id}")
    assert auth.post(f"/talks/{talk_id}/attendance", {f"attended-{bea}": "yes"}).status_code == 303
    # then Bea rates it once; bad ratings are refused; a second rating is refused
    auth.logout()
    auth.login(email="bea@example.org")
    assert 'id="feedback-form"' in page(client, f"/talks/{talk_id}")
    for rating in ("0", "6", "five", ""):
        response = auth.post(f"/talks/{talk_id}/feedback", {"rating": rating})
        assert response.status_code == 422 and 'id="e-rating"' in response.get_data(as_text=True)
    assert auth.post(f"/talks/{talk_id}/feedback", {"rating": "4", "comment": "Sharp"}).status_code == 303
    text = page(client, f"/talks/{talk_id}")
    assert "You rated this talk 4 / 5" in text and "Rated 4.0 / 5 by 1 person" in text
    assert auth.post(f"/talks/{talk_id}/feedback", {"rating": "5"}).status_code == 409


def test_someone_who_did_not_attend_cannot_give_feedback(app, client, auth, clock):
    talk_id = scheduled_talk(app, auth)
    join(auth, "Bea Second")
    response = auth.post(f"/talks/{talk_id}/feedback", {"rating": "5"})
    assert response.status_code == 403
    assert re.search(r"only people who attended", response.get_data(as_text=True))
