"""The session cookie (``platform.web.sessions``): Flask's own signed cookie, its serializer made
once per secret key. Cookies are the ones Flask's default interface makes and reads, a rotated key
(``SECRET_KEY_FALLBACKS``) is still read, and a cookie signed with another key is not."""

from __future__ import annotations

from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import TimestampSigner

from commonroom.platform.web.sessions import SessionInterface


def an_app(secret: str, fallbacks: list[str] | None = None, interface=None) -> Flask:
    app = Flask("cookie-test")
    app.secret_key = secret
    app.config["SECRET_KEY_FALLBACKS"] = fallbacks or []
    if interface is not None:
        app.session_interface = interface

    @app.post("/set/<value>")
    def set_value(value: str):
        session["peer_id"] = value
        return "ok"

    @app.get("/get")
    def get_value():
        return session.get("peer_id", "nobody")
    return app


def cookie_from(app: Flask, value: str) -> str:
    response = app.test_client().post(f"/set/{value}")
    return response.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]


def read_with(app: Flask, cookie: str) -> str:
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.get("/get").get_data(as_text=True)


def test_cookies_are_flasks_own_both_ways(monkeypatch):
    ours, flasks = an_app("k1", interface=SessionInterface()), an_app("k1", interface=SecureCookieSessionInterface())
    # a cookie we sign is read by Flask's default interface, and one it signs is read by ours
    assert read_with(flasks, cookie_from(ours, "ada")) == "ada"
    assert read_with(ours, cookie_from(flasks, "bob")) == "bob"
    # and at the same moment both make the very same cookie, signature included
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)
    assert cookie_from(ours, "cat") == cookie_from(flasks, "cat")


def test_a_cookie_signed_with_another_key_is_not_read():
    interface = SessionInterface()
    cookie = cookie_from(an_app("old-key", interface=SessionInterface()), "ada")
    assert read_with(an_app("new-key", interface=interface), cookie) == "nobody"
    # tampered: one character of the payload changed
    assert read_with(an_app("old-key", interface=interface), "x" + cookie[1:]) == "nobody"


def test_a_rotated_key_is_still_read_and_a_changed_key_is_picked_up():
    interface = SessionInterface()
    old_cookie = cookie_from(an_app("old-key", interface=SessionInterface()), "ada")
    app = an_app("new-key", fallbacks=["old-key"], interface=interface)
    assert read_with(app, old_cookie) == "ada"
    # the same interface object, after the app's key changes (tests do this): the new key counts
    app.secret_key = "newer-key"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert read_with(app, old_cookie) == "nobody"
    assert read_with(app, cookie_from(app, "bob")) == "bob"
