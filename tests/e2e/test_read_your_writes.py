"""Read-your-writes: a form POST only records its event; the page after it shows the change.

The POST remembers its command's log position in the session; the next request of that session
brings the read models up to it first (platform/web/consistency.py). Nobody sleeps: either the
views are already there, or the worker is waited for, or (worker down) the request projects.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from commonroom.projections.attendance import SignUpRow
from test_talk_pages import join, page, scheduled_talk


def signups_in_view(app, talk_id: str) -> int:
    with app.extensions["commonroom"].engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(SignUpRow)
                         .where(SignUpRow.talk_id == talk_id, SignUpRow.status != "cancelled")).scalar()


def test_the_post_only_records_the_event_and_the_next_page_shows_the_sign_up(app, client, auth):
    talk_id = scheduled_talk(app, auth, capacity=2)
    join(auth, "Bea Second")
    client.get("/")  # Bea's registration is in the views
    before = signups_in_view(app, talk_id)
    # when Bea signs up
    response = auth.post(f"/talks/{talk_id}/sign-up")
    # then the POST answered with a redirect without projecting the sign-up itself
    assert response.status_code == 303
    assert signups_in_view(app, talk_id) == before
    # and the page it redirects to shows her seat (and the flash)
    text = page(client, response.headers["Location"])
    assert "You're confirmed" in text and "You are signed up." in text
    assert signups_in_view(app, talk_id) == before + 1


def test_with_no_projection_worker_running_the_next_page_projects_what_it_needs(app, client, auth):
    # given a web process that leaves projection to a worker, and no worker running
    talk_id = scheduled_talk(app, auth, capacity=2)
    join(auth, "Bea Second")
    services = app.extensions["commonroom"]
    services.inline_projections = False
    services.settle_timeout = 0.01
    # when Bea signs up and follows the redirect
    response = auth.post(f"/talks/{talk_id}/sign-up")
    text = page(client, response.headers["Location"])
    # then she still sees her seat: the request caught the views up itself after the short wait
    assert "You're confirmed" in text and "1/2 seats taken" in text


def test_a_refused_command_remembers_nothing_and_changes_nothing(app, client, auth):
    talk_id = scheduled_talk(app, auth, capacity=2)
    join(auth, "Bea Second")
    auth.post(f"/talks/{talk_id}/sign-up")
    head = app.extensions["commonroom"].store.max_notification_id()
    # when she signs up again (refused: already signed up)
    response = auth.post(f"/talks/{talk_id}/sign-up", follow_redirects=True)
    # then she reads why, and no event was recorded
    assert "already signed up" in response.get_data(as_text=True)
    assert app.extensions["commonroom"].store.max_notification_id() == head
    with client.session_transaction() as session:
        assert "seen" not in session


def test_with_the_in_process_follower_projecting_the_page_waits_for_its_batch(app, client, auth):
    # given a web process whose follower holds the views' lock (as one gunicorn worker's does)
    talk_id = scheduled_talk(app, auth, capacity=2)
    join(auth, "Bea Second")
    client.get("/")
    services = app.extensions["commonroom"]
    services.start_following()
    assert services._follower.projecting.wait(60)  # a bound for a stuck test
    projected_by = []
    catch_up = services.projector.catch_up

    def recording_catch_up(*args, **kwargs):
        read = catch_up(*args, **kwargs)
        if read:
            projected_by.append(threading.current_thread().name)
        return read

    services.projector.catch_up = recording_catch_up
    # when Bea signs up and follows the redirect
    response = auth.post(f"/talks/{talk_id}/sign-up")
    text = page(client, response.headers["Location"])
    # then she sees her seat, and the follower projected it (batched with any other saves), not
    # her request
    assert "You're confirmed" in text and "1/2 seats taken" in text
    assert projected_by and set(projected_by) == {"commonroom-follower"}
