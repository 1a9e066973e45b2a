"""Register, sign in, sign out."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from commonroom.domain.errors import DomainError
from commonroom.platform import queries
from commonroom.platform.throttle import TooManySignIns
from commonroom.platform.web.consistency import after_command

bp = Blueprint("auth", __name__)


def signed_in_peer(email: str, password: str):
    """The active peer with this email and password (its row), or None; every try goes through
    the throttle shared with the API's token endpoint (``TooManySignIns`` while over the limit)."""
    def matching():
        row = queries.api_peer_by_email(services().engine, email)
        return row if row is not None and services().people.password_matches(row.password_hash, password) else None
    return services().throttle.sign_in(email, request.remote_addr, matching)


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
        try:
            row = signed_in_peer(email, form.get("password") or "")
        except TooManySignIns as error:
            return render_template("auth/login.html", form=form, error=error), 429, {
                "Retry-After": str(error.retry_after)}
        if row is None:
            error = DomainError("that email and password do not match an account")
            error.field = "password"
            return render_template("auth/login.html", form=form, error=error), 401
        session.clear()
        session["peer_id"] = row.id
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    g.peer = None
    return redirect(url_for("pages.home"))
