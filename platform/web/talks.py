"""Talks: propose and revise, the speaker's own list, taking a slot, the talk page and its actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from uuid import UUID

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, NotFound
from commonroom.platform import queries
from commonroom.platform.web.consistency import after_command
from commonroom.platform.web.forms import parse_date, parse_int, parse_uuid
from commonroom.platform.web.security import login_required

bp = Blueprint("talks", __name__)


def services():
    return current_app.extensions["commonroom"]


def talk_or_404(talk_id: str):
    try:
        row = queries.talk_row(services().engine, UUID(talk_id))
    except ValueError:
        row = None
    if row is None:
        abort(404, "there is no such talk")
    return row


def is_speaker_or_organizer(talk) -> bool:
    return g.peer is not None and (talk.speaker_id == str(g.peer.id) or g.peer.is_organizer)


def parse_slot(value: object) -> tuple[date, str]:
    """A slot from a form: ``YYYY-MM-DD|room_id``."""
    day, _, room_id = str(value or "").partition("|")
    if not day or not room_id:
        raise InvalidValue("slot", "choose a free lunch slot")
    return parse_date("slot", day), room_id


def done(position: int, message: str, target: str):
    after_command(position)
    flash(message)
    return redirect(target, 303)


def button(action: Callable[[], int], message: str, target: str):
    """A one-click action: a refused rule comes back as a flash on the same page."""
    try:
        position = action()
    except (NotAllowed, NotFound):
        raise
    except DomainError as error:
        flash(str(error), "error")
        return redirect(target, 303)
    return done(position, message, target)


# --- proposing and revising -----------------------------------------------------------------------
@bp.route("/talks/new", methods=["GET", "POST"])
@login_required
def propose():
    form = request.form
    if request.method == "POST":
        try:
            talk_id, position = services().talks.propose(
                g.peer.id, form.get("title", ""), form.get("abstract", ""), form.get("topics", ""))
        except DomainError as error:
            return render_template("talks/propose.html", form=form, error=error, talk=None), error.status
        return done(position, "Your talk is proposed. Pick a lunch slot for it.", url_for("talks.show", talk_id=talk_id))
    return render_template("talks/propose.html", form=form, error=None, talk=None)


@bp.route("/talks/<talk_id>/edit", methods=["GET", "POST"])
@login_required
def edit(talk_id: str):
    talk = talk_or_404(talk_id).TalkRow
    if talk.speaker_id != str(g.peer.id):
        abort(403, "only the speaker can revise a talk")
    if request.method == "POST":
        form = request.form
        try:
            position = services().talks.revise(
                UUID(talk.id), form.get("title", ""), form.get("abstract", ""), form.get("topics", ""), by=g.peer.id)
        except DomainError as error:
            return render_template("talks/propose.html", form=form, error=error, talk=talk), error.status
        return done(position, "Talk revised.", url_for("talks.show", talk_id=talk.id))
    form = {"title": talk.title, "abstract": talk.abstract, "topics": talk.topics.replace(",", ", ")}
    return render_template("talks/propose.html", form=form, error=None, talk=talk)


# --- the speaker's own talks ----------------------------------------------------------------------
@bp.route("/talks/mine")
@login_required
def mine():
    return render_mine()


def render_mine(error: DomainError | None = None, error_talk: str | None = None):
    engine = services().engine
    shape = queries.programme_shape(engine)
    slots = queries.free_slots(engine, shape, services().clock.now()) if shape else []
    talks = queries.talks_of_speaker(engine, g.peer.id)
    zone = shape.programme.timezone if shape else "UTC"
    return render_template(
        "talks/mine.html", talks=talks, slots=slots, shape=shape, error=error, error_talk=error_talk,
        form=request.form, local=lambda moment: queries.as_zone(moment, zone),
    ), (error.status if error else 200)


@bp.route("/talks/<talk_id>/schedule", methods=["POST"])
@login_required
def schedule(talk_id: str):
    talk = talk_or_404(talk_id).TalkRow
    try:
        day, room_id = parse_slot(request.form.get("slot"))
        position = services().talks.schedule(UUID(talk.id), day, room_id, by=g.peer.id)
    except (NotAllowed, NotFound):
        raise
    except DomainError as error:
        return render_mine(error, talk.id)
    return done(position, f"“{talk.title}” is scheduled for {day:%a %d %b}.", url_for("talks.show", talk_id=talk.id))


@bp.route("/talks/take", methods=["GET", "POST"])
@login_required
def take():
    """Take a free slot from the calendar: choose which of my proposals goes there."""
    slot = request.values.get("slot", "")
    error = None
    if request.method == "POST":
        try:
            day, room_id = parse_slot(slot)
            talk_id = parse_uuid("talk_id", request.form.get("talk_id"))
            position = services().talks.schedule(talk_id, day, room_id, by=g.peer.id)
        except DomainError as failure:
            error = failure
        else:
            return done(position, f"Your talk is scheduled for {day:%a %d %b}.", url_for("talks.show", talk_id=talk_id))
    proposals = [r for r in queries.talks_of_speaker(services().engine, g.peer.id) if r.TalkRow.status == "proposed"]
    return render_template("talks/take.html", slot=slot, slot_label=describe_slot(slot), proposals=proposals,
                           error=error), (error.status if error else 200)


def describe_slot(slot: str) -> str:
    day, _, room_id = slot.partition("|")
    shape = queries.programme_shape(services().engine)
    rooms = {room.id: room.name for room in shape.rooms} if shape else {}
    try:
        when = f"{date.fromisoformat(day):%A %d %B %Y} at {shape.programme.lunch_start:%H:%M}" if shape else day
    except ValueError:
        when = day
    return f"{when} · {rooms.get(room_id, room_id)}"


@bp.route("/talks/<talk_id>/withdraw", methods=["POST"])
@login_required
def withdraw(talk_id: str):
    talk = talk_or_404(talk_id).TalkRow
    return button(lambda: services().talks.withdraw(UUID(talk.id), by=g.peer.id), "Proposal withdrawn.",
                  url_for("talks.mine"))


@bp.route("/talks/<talk_id>/cancel", methods=["POST"])
@login_required
def cancel(talk_id: str):
    talk = talk_or_404(talk_id).TalkRow
    try:
        position = services().talks.cancel(UUID(talk.id), request.form.get("reason", ""), by=g.peer.id)
    except (NotAllowed, NotFound):
        raise
    except DomainError as error:
        return render_mine(error, talk.id)
    return done(position, "Talk cancelled; everyone signed up is told.", url_for("talks.show", talk_id=talk.id))


# --- the talk page --------------------------------------------------------------------------------
@bp.route("/talks/<talk_id>")
def show(talk_id: str):
    return render_show(talk_or_404(talk_id))


def render_show(row, error: DomainError | None = None):
    engine = services().engine
    talk = row.TalkRow
    shape = queries.programme_shape(engine)
    zone = shape.programme.timezone if shape else "UTC"
    now = services().clock.now()
    starts_at = queries.as_zone(talk.starts_at, zone)
    mine = queries.signup_of(engine, UUID(talk.id), g.peer.id) if g.peer else None
    average, count = queries.feedback_summary(engine, UUID(talk.id))
    return render_template(
        "talks/show.html", row=row, talk=talk, zone=zone, starts_at=starts_at,
        ends_at=queries.as_zone(talk.ends_at, zone), started=starts_at is not None and now >= starts_at,
        mine=mine if mine is not None and mine.status != "cancelled" else None, feedback_row=mine,
        is_speaker=g.peer is not None and talk.speaker_id == str(g.peer.id),
        sees_attendees=is_speaker_or_organizer(talk),
        attendees=queries.signups_of_talk(engine, UUID(talk.id)) if is_speaker_or_organizer(talk) else [],
        average=average, count=count, error=error, form=request.form,
    ), (error.status if error else 200)


@bp.route("/talks/<talk_id>/sign-up", methods=["POST"])
@login_required
def sign_up(talk_id: str):
    return seat_action(talk_id, services().talks.sign_up, "You are signed up.")


@bp.route("/talks/<talk_id>/cancel-sign-up", methods=["POST"])
@login_required
def cancel_sign_up(talk_id: str):
    return seat_action(talk_id, services().talks.cancel_sign_up, "Your sign-up is cancelled.")


def seat_action(talk_id: str, command: Callable[[UUID, UUID], int], message: str):
    # No read-model lookup first: the command loads the talk itself (404 when there is none).
    try:
        talk = UUID(talk_id)
    except ValueError:
        abort(404, "there is no such talk")
    return button(lambda: command(talk, g.peer.id), message, url_for("talks.show", talk_id=str(talk)))


@bp.route("/talks/<talk_id>/attendance", methods=["POST"])
@login_required
def attendance(talk_id: str):
    row = talk_or_404(talk_id)
    if not is_speaker_or_organizer(row.TalkRow):
        abort(403, "only the speaker (or an organizer) records attendance")
    marks: dict[UUID, bool] = {}
    for key, value in request.form.items():
        if key.startswith("attended-") and value in ("yes", "no"):
            marks[parse_uuid("attended", key.removeprefix("attended-"))] = value == "yes"
    try:
        if not marks:
            raise InvalidValue("attended", "mark at least one person as attended or no-show")
        position = services().talks.record_attendance(UUID(row.TalkRow.id), marks, by=g.peer.id)
    except (NotAllowed, NotFound):
        raise
    except DomainError as error:
        return render_show(row, error)
    return done(position, "Attendance recorded.", url_for("talks.show", talk_id=row.TalkRow.id))


@bp.route("/talks/<talk_id>/feedback", methods=["POST"])
@login_required
def feedback(talk_id: str):
    row = talk_or_404(talk_id)
    try:
        rating = parse_int("rating", request.form.get("rating", ""))
        position = services().talks.give_feedback(UUID(row.TalkRow.id), g.peer.id, rating, request.form.get("comment", ""))
    except DomainError as error:
        return render_show(row, error)
    return done(position, "Thank you for your feedback.", url_for("talks.show", talk_id=row.TalkRow.id))
