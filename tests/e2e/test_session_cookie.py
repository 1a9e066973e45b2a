"""The session cookie (``platform.web.sessions``): Flask's own signed cookie, its serializer made
once per secret key. Cookies are read by Flask's default interface and ours both ways, whatever
the session holds; the JSON inside is Flask's tagged JSON byte for byte; a rotated key
(``SECRET_KEY_FALLBACKS``) is still read, and a cookie signed with another key is not."""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime, timezone

from flask import Flask, flash, get_flashed_messages, session
from flask.json.provider import DefaultJSONProvider
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner
from itsdangerous.encoding import base64_decode
from markupsafe import Markup

from commonroom.platform.web.sessions import SessionInterface, _SessionJSON


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


# What a session may hold: Flask's tagged kinds (tuples, bytes, Markup, UUIDs, datetimes, dicts
# whose one key looks like a tag) nested in the plain ones.
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(),
    st.binary(max_size=20), st.text(max_size=10).map(Markup), st.uuids(),
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=0)),
)
_values = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=6), inner, max_size=4),
    st.sampled_from([" t", " u", " di", "plain"]).flatmap(lambda key: st.builds(lambda v: {key: v}, inner)),
), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_the_json_is_flasks_tagged_json_byte_for_byte_and_reads_back_the_same(value):
    app = Flask("json-test")
    flasks, ours = TaggedJSONSerializer(), _SessionJSON(app.json)
    with app.app_context():  # Flask's serializer reaches the provider through current_app
        expected = flasks.dumps(value)
        assert ours.dumps(value) == expected
        assert ours.loads(expected) == flasks.loads(expected)


def test_flashes_and_every_kind_of_value_cross_both_ways():
    def app_with(interface) -> Flask:
        app = an_app("k1", interface=interface)

        @app.post("/fill")
        def fill():
            flash("You are signed up.")
            flash("Seats are full; you are on the waitlist.", "error")
            session.update({"seen": 12345, "when": datetime(2026, 12, 7, 12, 30, tzinfo=timezone.utc),
                            "talk": uuid.UUID(int=7), "note": Markup("<b>bold</b>"), "raw": b"\x00\xff",
                            "pair": (1, "two"), " t": "a key like a tag", "nested": {" u": [1, (2, 3)]}})
            return "ok"

        @app.get("/show")
        def show():
            return repr((get_flashed_messages(with_categories=True), session["seen"], session["when"],
                         session["talk"], session["note"], session["raw"], session["pair"], session[" t"],
                         session["nested"]))
        return app

    ours, flasks = app_with(SessionInterface()), app_with(SecureCookieSessionInterface())
    for writer, reader in ((ours, flasks), (flasks, ours), (ours, ours)):
        cookie = writer.test_client().post("/fill").headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
        client = reader.test_client()
        client.set_cookie("session", cookie)
        shown = client.get("/show").get_data(as_text=True)
        assert shown == repr(([("message", "You are signed up."),
                               ("error", "Seats are full; you are on the waitlist.")],
                              12345, datetime(2026, 12, 7, 12, 30, tzinfo=timezone.utc), uuid.UUID(int=7),
                              Markup("<b>bold</b>"), b"\x00\xff", (1, "two"), "a key like a tag",
                              {" u": [1, (2, 3)]}))


def test_a_long_session_is_compressed_into_a_zlib_stream_flask_reads():
    app, flasks = an_app("k1", interface=SessionInterface()), an_app("k1", interface=SecureCookieSessionInterface())
    long_value = "the same words again " * 40
    cookie = cookie_from(app, long_value)
    assert cookie.startswith(".")  # compressed, as itsdangerous marks it
    payload = base64_decode(cookie[1:].split(".", 1)[0])
    assert long_value in zlib.decompress(payload).decode()
    assert read_with(flasks, cookie) == long_value
    assert read_with(app, cookie_from(flasks, long_value)) == long_value


def test_an_app_with_its_own_json_provider_keeps_flasks_serializer():
    class Provider(DefaultJSONProvider):
        pass

    app = an_app("k1", interface=SessionInterface())
    app.json = Provider(app)
    with app.app_context():
        assert type(app.session_interface.get_signing_serializer(app).serializer) is TaggedJSONSerializer
    assert read_with(app, cookie_from(app, "ada")) == "ada"


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
