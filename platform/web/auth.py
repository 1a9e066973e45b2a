"""Register, sign in, sign out."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from commonroom.domain.errors import DomainError
from commonroom.platform.throttle import LoginThrottle
from commonroom.platform.web.consistency import after_command
from commonroom.projections.people import PeerRow

bp = Blueprint("auth", __name__)


def throttle() -> LoginThrottle:
    return services().throttle


def sign_in_keys(email: str) -> tuple[str, str]:
    """What failed sign-ins are counted by: the email tried, and the client's address."""
    return f"email:{email}", f"addr:{request.remote_addr}"


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
        keys = sign_in_keys(email)
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
        throttle().succeeded(keys[0])  # the email's count; the address keeps its own (see platform/throttle.py)
        session.clear()
        session["peer_id"] = row.id
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    g.peer = None
    return redirect(url_for("pages.home"))
