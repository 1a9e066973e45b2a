"""Home and the signed-in peer's own page (their notifications)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, g, render_template

from commonroom.platform.web.security import login_required
from commonroom.projections.notifications import NotificationRow

bp = Blueprint("pages", __name__)


def services():
    return current_app.extensions["commonroom"]


@bp.route("/")
def home():
    from commonroom.platform import queries

    upcoming = queries.upcoming_talks(services().engine, limit=6)
    return render_template("pages/home.html", upcoming=upcoming)


@bp.route("/me")
@login_required
def me():
    with services().engine.connect() as c:
        notes = c.execute(
            sa.select(NotificationRow).where(NotificationRow.peer_id == str(g.peer.id))
            .order_by(NotificationRow.created_at.desc()).limit(50)
        ).all()
    from commonroom.platform import queries

    signups = queries.signups_of_peer(services().engine, g.peer.id)
    return render_template("pages/me.html", notifications=notes, signups=signups)
