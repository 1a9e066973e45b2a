"""The Flask app factory."""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
from pathlib import Path

from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import PersistenceError
from flask import Flask, g, jsonify, render_template, request, session
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import commonroom.templates
from commonroom.domain.errors import DomainError
from commonroom.platform import logs
from commonroom.platform.bootstrap import bootstrap, settings_from_env
from commonroom.platform.eventstore import REQUEST_ID
from commonroom.platform.web import consistency, security, sessions

log = logging.getLogger("commonroom.web")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(Path(commonroom.templates.__file__).parent),
        static_folder=str(Path(__file__).parent / "static"),
    )
    app.config.from_mapping(settings_from_env())
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _dev_secret_key()
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.session_interface = sessions.SessionInterface()

    hops = _proxy_hops(app.config.get("PROXY_HOPS", 0))
    if hops:
        # Behind this many reverse proxies: the client's address (what failed sign-ins are counted
        # by) and scheme come from their X-Forwarded-* headers, else every client would share the
        # proxy's address. Never set it without a proxy: clients could then choose their address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    services = bootstrap(app.config["DATABASE_URL"], clock=app.config.get("CLOCK"),
                         inline_projections=app.config.get("INLINE_PROJECTIONS", True))
    app.extensions["commonroom"] = services
    if app.config.get("FOLLOW"):
        services.start_following()

    app.wsgi_app = _SecurityHeaders(app.wsgi_app)

    _register_blueprints(app)
    _register_hooks(app)
    _register_errors(app)
    app.jinja_env.globals["csrf_token"] = security.csrf_token
    app.jinja_env.globals["feed_token"] = security.feed_token
    return app


def _register_blueprints(app: Flask) -> None:
    from commonroom.platform.web import auth, feeds, pages, programme, talks
    from commonroom.platform.web import api, health

    for module in (auth, pages, programme, talks, feeds, api, health):
        app.register_blueprint(module.bp)
    from commonroom.platform.web import directory

    app.register_blueprint(directory.bp)
    from commonroom.platform.web import trades

    for blueprint in trades.blueprints:
        app.register_blueprint(blueprint)


def _register_hooks(app: Flask) -> None:
    # The hooks run on every request: each takes the request, ``g`` and the session from their
    # proxies once. (An attribute read through one of Flask's proxies costs ~1.4 us against ~0.07
    # on the object: werkzeug's proxy class has no such attribute, so Python formats an
    # AttributeError before the proxy's ``__getattr__`` answers.)
    @app.before_request
    def _before() -> None:
        req, ctx_g, sess = request._get_current_object(), g._get_current_object(), session._get_current_object()
        request_id = ctx_g.request_id = (req.headers.get("X-Request-Id") or _next_request_id())[:64]
        ctx_g.request_token = REQUEST_ID.set(request_id)
        ctx_g.started = time.perf_counter()
        consistency.settle_for_session(req, sess)  # before reading the peer: a just-registered one must be there
        security.load_session_peer(sess, ctx_g)
        security.check_csrf(req, sess)

    @app.teardown_request
    def _teardown(_error) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            REQUEST_ID.reset(token)

    @app.after_request
    def _after(response):
        req, ctx_g = request._get_current_object(), g._get_current_object()
        peer = ctx_g.get("peer")
        request_id = ctx_g.get("request_id")
        logs.info_fields(log, "request", {
            "request_id": request_id, "method": req.method, "path": req.path,
            "status": response.status_code, "peer": str(peer.id) if peer else None,
            "ms": round((time.perf_counter() - ctx_g.get("started", time.perf_counter())) * 1000, 1),
        })
        if "X-Request-Id" not in response.headers:
            response.headers.add("X-Request-Id", request_id or "")
        return response  # (and SECURITY_HEADERS: _SecurityHeaders)


# On every response that does not set them itself.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"),
)


class _SecurityHeaders:
    """WSGI middleware: ``SECURITY_HEADERS`` on every response that does not set them itself,
    appended to the header list ``start_response`` is given. (Added in ``after_request`` through
    werkzeug's ``Headers``, each value was checked again on every response: 51k of the bare
    endpoint's 834k instructions a request, callgrind.)"""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.headers = [(name.lower(), (name, value)) for name, value in SECURITY_HEADERS]

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers.extend(header for lower, header in self.headers if lower not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


# Request ids: 16 hex digits from a random tag per start, the process id (gunicorn workers fork
# from one import) and a counter, without a uuid4 per request (os.urandom on every request, and
# the ids need not be secret, only distinct enough to find one request's log lines).
_REQUEST_IDS = itertools.count(1)
_START_TAG = secrets.randbits(16)


def _next_request_id() -> str:
    return f"{_START_TAG:04x}{os.getpid() & 0xFFFFF:05x}{next(_REQUEST_IDS) & 0xFFFFFFF:07x}"


def wants_json() -> bool:
    """Errors as JSON for the API and for a page's own JSON (``/graph.json``), as HTML elsewhere."""
    return request.blueprint == "api" or request.path.startswith("/api/") or request.path.endswith(".json")


def _register_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        body = {"error": str(error)}
        if error.field:
            body["field"] = error.field
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
        if wants_json():
            return jsonify(body), error.status, headers
        return render_template("error.html", status=error.status, message=str(error)), error.status, headers

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if wants_json():
            return jsonify({"error": error.description or error.name}), error.code
        return render_template("error.html", status=error.code, message=error.description), error.code

    @app.errorhandler(PersistenceError)
    @app.errorhandler(StoreOperationalError)
    @app.errorhandler(DBAPIError)
    def _database_down(error: Exception):
        log.warning("database unavailable: %s", error)
        message = "the database is unavailable for a moment; please retry shortly"
        if wants_json():
            return jsonify({"error": message}), 503, {"Retry-After": "2"}
        return render_template("error.html", status=503, message=message), 503, {"Retry-After": "2"}


def _proxy_hops(value: object) -> int:
    try:
        hops = int(value or 0)
    except (TypeError, ValueError):
        raise ValueError(f"COMMONROOM_PROXY_HOPS must be a whole number of proxies, not {value!r}") from None
    if hops < 0:
        raise ValueError(f"COMMONROOM_PROXY_HOPS must be 0 or more, not {hops}")
    return hops


def _dev_secret_key() -> str:
    """Development only: a random key kept under instance/ so sessions survive restarts.

    Processes starting together (gunicorn's workers, a projection worker) agree on one key: the
    key is written to a file of this process's own and linked into place, which only one of them
    can do; the others read the winner's whole key, never a file still being written."""
    path = Path("instance") / "secret_key"
    try:
        if path.exists():
            key = path.read_text().strip()
            if key:
                return key
            path.unlink(missing_ok=True)  # empty: left by a crash during a write before this version
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        draft.write_text(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process linked its key first: use that one
        finally:
            draft.unlink(missing_ok=True)
        return path.read_text().strip()
    except OSError:
        return secrets.token_hex(32)
