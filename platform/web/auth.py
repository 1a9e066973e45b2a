"""Register, sign in, sign out."""

from __future__ import annotations

import threading
import time
from collections import deque

import sqlalchemy as sa
from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from commonroom.domain.errors import DomainError
from commonroom.platform.web.consistency import after_command
from commonroom.projections.people import PeerRow

bp = Blueprint("auth", __name__)


class LoginThrottle:
    """At most ``limit`` failed sign-ins per email and per client address in ``window`` seconds.

    Kept per process (each gunicorn worker counts on its own): it slows guessing down, it is
    not an account lock-out.
    """

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] < now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, *keys: str) -> int:
        now = time.monotonic()
        with self._lock:
            waits = [int(self.window - (now - f[0])) + 1 for k in keys
                     if len(f := self._recent(k, now)) >= self.limit]
        return max(waits, default=0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:
                self._failures.clear()
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def throttle() -> LoginThrottle:
    return current_app.extensions.setdefault("login_throttle", LoginThrottle())


def services():
    return current_app.extensions["commonroom"]


def safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.home")


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = request.form
    if request.method == "POST":
        try:
            result = services().people.register(
                form.get("name"), form.get("email"), form.get("department"),
                form.get("password"), form.get("timezone") or "UTC",
            )
        except DomainError as error:
            return render_template("auth/register.html", form=form, error=error), error.status
        session.clear()
        session["peer_id"] = str(result.peer_id)
        after_command(result.position)
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/register.html", form=form, error=None)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = request.form
    if request.method == "POST":
        email = (form.get("email") or "").strip().lower()
        keys = (f"email:{email}", f"addr:{request.remote_addr}")
        wait = throttle().retry_after(*keys)
        if wait:
            error = DomainError(f"too many failed sign-ins; try again in {wait // 60 + 1} minutes")
            return render_template("auth/login.html", form=form, error=error), 429, {"Retry-After": str(wait)}
        with services().engine.connect() as c:
            row = c.execute(sa.select(PeerRow).where(PeerRow.email == email)).first()
        people = services().people
        if row is None or not row.active or not people.password_matches(row.password_hash, form.get("password") or ""):
            error = DomainError("that email and password do not match an account")
            error.field = "password"
            throttle().failed(*keys)
            return render_template("auth/login.html", form=form, error=error), 401
        throttle().succeeded(*keys)
        session.clear()
        session["peer_id"] = row.id
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    g.peer = None
    return redirect(url_for("pages.home"))
