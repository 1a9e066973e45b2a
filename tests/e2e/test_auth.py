"""Accounts: register, sign in, sign out, CSRF, throttling, security headers."""

import pytest
import sqlalchemy as sa

from commonroom.projections.people import PeerRow


def test_a_new_user_registers_and_is_signed_in(client, auth):
    response = auth.register()
    assert response.status_code == 302
    page = client.get("/me").get_data(as_text=True)
    assert "Ada Lovelace" in page


def test_passwords_are_stored_hashed_never_in_clear(app, auth):
    auth.register(password="correct horse")
    app.extensions["commonroom"].settle()  # the read models follow the POST
    with app.extensions["commonroom"].engine.connect() as c:
        stored = c.execute(sa.select(PeerRow.password_hash)).scalar_one()
    assert "correct horse" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_registering_an_email_twice_shows_the_form_again_naming_the_email(client, auth):
    auth.register(email="ada@example.org")
    auth.logout()
    response = auth.register(name="Other", email="ADA@Example.org")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "already registered" in page and 'aria-invalid="true"' in page and 'value="Other"' in page


def test_bad_registration_input_names_the_field_and_writes_nothing(app, auth):
    head = app.extensions["commonroom"].store.max_notification_id()
    for data, field in [
        ({"name": ""}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "x" * 500}, "name"),
    ]:
        form = {"name": "Ada", "email": "ada@example.org", "department": "Audit", "password": "long enough"}
        form.update(data)
        response = auth.post("/register", form)
        assert response.status_code == 422, data
        assert f'id="e-{field}"' in response.get_data(as_text=True)
    assert app.extensions["commonroom"].store.max_notification_id() == head


def test_sign_in_and_out(client, auth):
    auth.register()
    auth.logout()
    assert client.get("/me").status_code == 302
    assert auth.login().status_code == 302
    assert client.get("/me").status_code == 200


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(auth):
    auth.register()
    auth.logout()
    response = auth.login(password="wrong password")
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)


def test_repeated_failed_sign_ins_are_throttled(auth):
    auth.register(email="grace@example.org")
    auth.logout()
    statuses = [auth.login(email="grace@example.org", password="nope nope").status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429


def test_the_token_endpoint_is_throttled_too_and_says_when_to_retry(client, auth):
    auth.register(email="grace@example.org", password="the right one")
    auth.logout()
    tries = [client.post("/api/v1/tokens", json={"email": "grace@example.org", "password": f"guess {i}"})
             for i in range(6)]
    assert [r.status_code for r in tries] == [401] * 5 + [429]
    refused = tries[-1]
    assert int(refused.headers["Retry-After"]) > 0 and "too many failed sign-ins" in refused.get_json()["error"]
    # while it lasts even the right password waits (a guesser must not learn it was right)
    right = client.post("/api/v1/tokens", json={"email": "grace@example.org", "password": "the right one"})
    assert right.status_code == 429


def test_failed_sign_ins_are_counted_across_processes_and_across_the_form_and_the_api(app, sqlite_url, clock, auth):
    # given a second web process on the same database (another gunicorn worker)
    from commonroom.platform.app import create_app
    other = create_app({"TESTING": True, "DATABASE_URL": sqlite_url, "SECRET_KEY": "test-secret", "FOLLOW": False,
                        "CLOCK": clock})
    try:
        auth.register(email="grace@example.org")
        auth.logout()
        # when three guesses go to this process's form and two to the other's API
        for _ in range(3):
            assert auth.login(email="grace@example.org", password="nope nope").status_code == 401
        api = other.test_client()
        for _ in range(2):
            assert api.post("/api/v1/tokens", json={"email": "grace@example.org", "password": "nope"}).status_code == 401
        # then the sixth, anywhere, is refused
        assert auth.login(email="grace@example.org", password="nope nope").status_code == 429
        assert api.post("/api/v1/tokens", json={"email": "grace@example.org", "password": "x"}).status_code == 429
    finally:
        other.extensions["commonroom"].close()


def test_a_success_clears_the_emails_count_but_not_the_address_count(app, auth):
    # a guesser signing in to an account of their own between guesses does not start again
    throttle = app.extensions["commonroom"].throttle
    auth.register(email="mallory@example.org", password="mallory's own")
    auth.logout()
    for i in range(4):
        assert auth.login(email=f"victim{i}@example.org", password="guess").status_code == 401
    assert auth.login(email="mallory@example.org", password="mallory's own").status_code == 302
    auth.logout()
    assert auth.login(email="victim9@example.org", password="guess").status_code == 401  # the 5th from here
    assert auth.login(email="victim8@example.org", password="guess").status_code == 429
    assert throttle.retry_after("email:mallory@example.org") == 0


def test_a_form_post_without_the_csrf_token_is_refused(client):
    response = client.post("/register", data={"name": "Eve", "email": "eve@example.org",
                                               "department": "X", "password": "long enough"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_pages_carry_security_headers_and_a_request_id(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-Id"]
    # each once
    names = [name.lower() for name, _ in response.headers.items()]
    assert len(names) == len(set(names))


def test_a_response_that_sets_a_security_header_itself_keeps_it(app):
    @app.get("/framed-on-purpose")
    def framed():
        return "ok", 200, {"X-Frame-Options": "SAMEORIGIN", "x-request-id": "mine"}

    response = app.test_client().get("/framed-on-purpose")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("X-Request-Id") == ["mine"]
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("how", ["among other fields", "in the header", "in a multipart form"])
def test_the_csrf_token_is_found_however_the_form_sends_it(auth, client, how):
    token = auth.csrf()
    fields = {"name": "Eve Example", "email": "eve@example.org", "department": "Tax", "password": "long enough",
              "timezone": "UTC"}
    if how == "among other fields":
        response = client.post("/register", data={**fields, "csrf_token": token, "zz": "last"})
    elif how == "in the header":
        response = client.post("/register", data=fields, headers={"X-CSRF-Token": token})
    else:
        response = client.post("/register", data={**fields, "csrf_token": token}, content_type="multipart/form-data")
    # then the form was accepted, and the view read every field of it (the peer is registered)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert auth.login(email="eve@example.org", password="long enough").status_code == 302


def test_a_wrong_csrf_token_is_refused_in_a_urlencoded_or_multipart_form(auth, client):
    auth.csrf()  # the session has a token
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        response = client.post("/register", data={"csrf_token": "not-it", "name": "Eve"}, content_type=content_type)
        assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)


def test_every_request_gets_its_own_request_id(client):
    ids = {client.get("/").headers["X-Request-Id"] for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 16 for i in ids)


def test_events_record_the_request_that_caused_them(app, client, auth):
    auth.post("/register", {"name": "Ada", "email": "ada@example.org", "department": "Audit",
                            "password": "long enough"}, headers={"X-Request-Id": "req-123"})
    store = app.extensions["commonroom"].store
    events = [store.mapper.to_domain_event(n) for n in store.recorder.select_notifications(start=1, limit=10)]
    assert events and all(getattr(e, "request_id", None) == "req-123" for e in events)
    assert all(e.by == events[0].originator_id for e in events if hasattr(e, "by"))


def test_a_next_parameter_cannot_redirect_off_site(auth):
    response = auth.post("/register?next=//evil.example", {
        "name": "Ada", "email": "ada@example.org", "department": "Audit", "password": "long enough"})
    assert response.headers["Location"] == "/"


def test_behind_a_proxy_failed_sign_ins_are_counted_per_client_not_per_proxy(sqlite_url, clock):
    # given the app behind one reverse proxy (every request comes from the proxy's address)
    from commonroom.platform.app import create_app
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite_url, "SECRET_KEY": "test-secret", "FOLLOW": False,
                      "CLOCK": clock, "PROXY_HOPS": "1"})
    try:
        client = app.test_client()

        def guess(email: str, client_address: str) -> int:
            return client.post("/api/v1/tokens", json={"email": email, "password": "nope"},
                               headers={"X-Forwarded-For": client_address}).status_code
        # when one client guesses five times (each time at another account)
        assert [guess(f"victim{i}@example.org", "203.0.113.7") for i in range(5)] == [401] * 5
        # then that client is refused, and another client behind the same proxy is not
        assert guess("victim9@example.org", "203.0.113.7") == 429
        assert guess("someone@example.org", "198.51.100.4") == 401
    finally:
        app.extensions["commonroom"].close()


def test_a_proxy_hop_count_that_is_not_a_number_is_refused_at_start(sqlite_url):
    import pytest
    from commonroom.platform.app import create_app
    with pytest.raises(ValueError, match="PROXY_HOPS"):
        create_app({"TESTING": True, "DATABASE_URL": sqlite_url, "SECRET_KEY": "x", "FOLLOW": False,
                    "PROXY_HOPS": "two"})
