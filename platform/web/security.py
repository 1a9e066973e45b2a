"""Sessions, CSRF and roles for the HTML pages; bearer tokens for the JSON API."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl
from uuid import UUID

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, session, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from commonroom.projections.people import PeerRow

TOKEN_MAX_AGE = 30 * 24 * 3600


@dataclass(frozen=True)
class CurrentPeer:
    id: UUID
    name: str
    email: str
    department: str
    timezone: str
    is_organizer: bool


# Every request of a signed-in peer runs this: only the columns it needs, one statement built once.
_PEER_BY_ID = sa.select(PeerRow.id, PeerRow.name, PeerRow.email, PeerRow.department, PeerRow.timezone,
                        PeerRow.is_organizer, PeerRow.active).where(PeerRow.id == sa.bindparam("peer_id"))
_PEER_SQL: dict[str, tuple[str, bool]] = {}  # dialect name -> (its SQL text, positional parameters)


def load_peer(peer_id: UUID | str) -> CurrentPeer | None:
    """The signed-in peer, read straight through the driver: through SQLAlchemy's ``execute`` the
    lookup took 118 us, through the pooled DB-API connection 19 us (timeit, SQLite); py-spy had it
    at 15% of a web worker's CPU under the sign-up load. The statement is ``_PEER_BY_ID`` compiled
    once for the engine's dialect, so it reads the same row the same way on PostgreSQL."""
    engine = current_app.extensions["commonroom"].engine
    compiled = _PEER_SQL.get(engine.dialect.name)
    if compiled is None:
        statement = _PEER_BY_ID.compile(dialect=engine.dialect)
        compiled = _PEER_SQL[engine.dialect.name] = (str(statement), bool(statement.positional))
    sql, positional = compiled
    params = (str(peer_id),) if positional else {"peer_id": str(peer_id)}
    dbapi_error = engine.dialect.loaded_dbapi.Error
    connection = None
    try:
        connection = engine.raw_connection()
        cursor = connection.cursor()
        cursor.execute(sql, params)
        row = cursor.fetchone()
        cursor.close()
    except dbapi_error as error:
        # Raised as SQLAlchemy raises it (the app answers that with a 503), and the connection is
        # not given out again: after an outage it is a dead one.
        if connection is not None:
            connection.invalidate(error)
        raise sa.exc.DBAPIError.instance(sql, params, error, dbapi_error, dialect=engine.dialect) from error
    finally:
        if connection is not None:
            connection.close()  # back to the pool (which rolls the read transaction back)
    if row is None or not row[6]:
        return None
    id_, name, email, department, timezone, is_organizer, _active = row
    return CurrentPeer(UUID(id_), name, email, department, timezone, bool(is_organizer))


def load_session_peer(sess, ctx_g) -> None:
    """``g.peer``: the session's signed-in peer (None when signed out or no longer active).
    ``sess`` and ``ctx_g`` are the request's session and ``g`` (the objects, not Flask's proxies:
    this runs on every request)."""
    ctx_g.peer = None
    peer_id = sess.get("peer_id")
    if peer_id:
        ctx_g.peer = load_peer(peer_id)
        if ctx_g.peer is None:
            sess.clear()


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g._get_current_object().get("peer") is None:  # (see app._register_hooks on proxies)
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def organizer_required(view: Callable) -> Callable:
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not g.peer.is_organizer:
            abort(403, "only organizers can do that")
        return view(*args, **kwargs)

    return wrapped


# --- CSRF -----------------------------------------------------------------------------------------
def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(req, sess) -> None:
    """Every form POST carries the session's token (API routes use bearer tokens instead).
    ``req`` and ``sess`` are the request and its session (the objects, not Flask's proxies)."""
    # JSON API routes authenticate with bearer tokens, never the session cookie, so a forged
    # cross-site request carries no credentials there.
    if req.method in ("GET", "HEAD", "OPTIONS") or req.path.startswith("/api/"):
        return
    if current_app.config.get("CSRF_DISABLED"):
        return
    sent = _sent_token(req) or req.headers.get("X-CSRF-Token", "")
    expected = sess.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, "the form expired or came from elsewhere (CSRF check failed); reload the page and try again")


# A urlencoded form up to this size is read for its token directly (larger ones, and multipart
# forms, through ``request.form``).
_SMALL_FORM = 16 * 1024


def _sent_token(req) -> str:
    """The form's ``csrf_token``. A small urlencoded body is split by ``urllib.parse`` from the
    request's cached body instead of through werkzeug's form parser (~100 us a request, with its
    stream wrapping and MultiDict, for one field of a one-button form); werkzeug still parses the
    same cached body if the view reads ``request.form``."""
    length = req.content_length
    if req.mimetype == "application/x-www-form-urlencoded" and length is not None and length <= _SMALL_FORM:
        for name, value in parse_qsl(req.get_data(cache=True), keep_blank_values=True):
            if name == b"csrf_token":
                return value.decode("utf-8", "replace")
        return ""
    return req.form.get("csrf_token", "")


# --- API tokens -----------------------------------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="commonroom-api-token")


def issue_token(peer_id: UUID) -> str:
    return _serializer().dumps({"peer": str(peer_id)})


def feed_token(peer_id: UUID) -> str:
    """The secret in a peer's personal calendar-feed URL (calendar apps send no cookies)."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="commonroom-calendar-feed").dumps(str(peer_id))


def feed_token_matches(peer_id: UUID, token: str) -> bool:
    try:
        return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="commonroom-calendar-feed").loads(
            token) == str(peer_id)
    except BadSignature:
        return False


def peer_from_token(token: str) -> CurrentPeer | None:
    try:
        data = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    return load_peer(data.get("peer", ""))
