"""The programme calendar (weeks of lunch slots) and the organizer's page that shapes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from commonroom.domain.errors import DomainError, InvalidValue
from commonroom.domain.programme import WEEKDAY_NAMES, Programme, check_capacity
from commonroom.platform import queries
from commonroom.platform.readcache import ReadCache
from commonroom.platform.web.consistency import after_command
from commonroom.platform.web.forms import parse_date, parse_int, parse_time
from commonroom.platform.web.security import organizer_required

bp = Blueprint("programme", __name__)
DEFAULT_WEEKS, MAX_WEEKS = 4, 12


def services():
    return current_app.extensions["commonroom"]


@bp.route("/programme")
def calendar():
    if request.args.get("as_of"):
        return calendar_as_of(request.args["as_of"])
    app = services()
    positions = app.projector.positions()
    schedule_at = (positions.get("schedule", 0), positions.get("people", 0))
    shape = _cache().get_or_compute(("shape", schedule_at), lambda: queries.programme_shape(app.engine))
    if shape is None:
        return render_template("programme/calendar.html", shape=None)
    now = app.clock.now()
    week = parse_date("week", request.args["week"]) if request.args.get("week") else shape.today(now)
    weeks = parse_int("weeks", request.args.get("weeks", DEFAULT_WEEKS))
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidValue("weeks", f"weeks must be from 1 to {MAX_WEEKS}")
    first = queries.monday_of(week)
    minute = now.replace(second=0, microsecond=0)  # free slots turn into past ones by the minute

    def render_weeks() -> Markup:
        return Markup(render_template(
            "programme/_weeks.html", now=minute, calendar=queries.calendar_weeks(app.engine, shape, first, weeks)))

    weeks_html = _cache().get_or_compute(("weeks", schedule_at, first, weeks, g.peer is not None, minute), render_weeks)
    return render_template(
        "programme/calendar.html", shape=shape, weeks=weeks, first=first, weeks_html=weeks_html,
        previous_week=first - timedelta(days=7 * weeks), next_week=first + timedelta(days=7 * weeks),
        zone=shape.programme.timezone,
    )


def calendar_as_of(value: str):
    """The schedule as it stood at the end of a past day (time travel over the talk history)."""
    from commonroom.platform import directory

    as_of = parse_date("as_of", value)
    app = services()
    talks = directory.talks_as_of(app.engine, directory.moment(as_of))
    people = queries.peer_names(app.engine, {t.speaker_id for t in talks})
    rooms = {room.id: room.name for room in queries.rooms(app.engine)}
    return render_template("programme/as_of.html", as_of=as_of, talks=talks, people=people, rooms=rooms)


def _cache() -> ReadCache:
    return current_app.extensions.setdefault("programme_cache", ReadCache(maxsize=128))


# --- the organizer's page -------------------------------------------------------------------------
@bp.route("/organize")
@organizer_required
def organize():
    return render_organize()


def render_organize(action: str | None = None, error: DomainError | None = None):
    shape = queries.programme_shape(services().engine)
    today = shape.today(services().clock.now()) if shape else date.today()
    return render_template(
        "programme/organize.html", shape=shape, today=today, weekday_names=WEEKDAY_NAMES[:5],
        action=action, error=error, form=request.form if action else {},
    ), (error.status if error else 200)


@bp.route("/organize/<action>", methods=["POST"])
@organizer_required
def organize_action(action: str):
    handler = ACTIONS.get(action)
    if handler is None:
        abort(404)
    try:
        position, message = handler(request.form, g.peer.id)
    except DomainError as error:
        return render_organize(action, error)
    after_command(position)
    flash(message)
    return redirect(url_for("programme.organize"), 303)


def _start(form, by):
    start = parse_time("lunch_start", form.get("lunch_start", ""))
    minutes = parse_int("lunch_minutes", form.get("lunch_minutes", ""))
    position = services().programme.start(form.get("name", ""), form.get("timezone", ""), start, minutes, by=by)
    return position, "The programme has started. Now choose its weekdays and add a room."


def _change(change: Callable, message: str, by) -> tuple[int, str]:
    return services().programme.change(change, by=by), message


def _not_in_past(field: str, day: date) -> date:
    shape = queries.programme_shape(services().engine)
    if shape is not None and day < shape.today(services().clock.now()):
        raise InvalidValue(field, f"{field.replace('_', ' ')} must be today or later")
    return day


def _weekdays(form, by):
    try:
        days = sorted({int(d) for d in form.getlist("weekdays")})
    except ValueError:
        raise InvalidValue("weekdays", "choose weekdays from Mon to Fri") from None
    if not days or not all(0 <= d <= 4 for d in days):
        raise InvalidValue("weekdays", "choose one to five weekdays (Mon to Fri)")
    since = _not_in_past("effective_from", parse_date("effective_from", form.get("effective_from", "")))
    names = ", ".join(WEEKDAY_NAMES[d] for d in days)
    return _change(lambda p: p.change_weekdays(days, since, by=by), f"Lunch talks run on {names} from {since}.", by)


def _lunch(form, by):
    start, minutes = Programme.validate_lunch(parse_time("lunch_start", form.get("lunch_start", "")),
                                              parse_int("lunch_minutes", form.get("lunch_minutes", "")))
    return _change(lambda p: p.change_lunch(start, minutes, by=by), f"Lunch now starts at {start:%H:%M}.", by)


def _add_room(form, by):
    name = (form.get("room") or "").strip()
    if not name:
        raise InvalidValue("room", "room name is required")
    capacity = check_capacity(parse_int("capacity", form.get("capacity", "")))
    return _change(lambda p: p.add_room(name, capacity, by=by), f"Room {name} added.", by)


def _room_capacity(form, by):
    room_id = form.get("room_id", "")
    capacity = check_capacity(parse_int("capacity", form.get("capacity", "")))
    return _change(lambda p: p.change_room_capacity(room_id, capacity, by=by), "Room capacity changed.", by)


def _remove_room(form, by):
    room_id = form.get("room_id", "")
    return _change(lambda p: p.remove_room(room_id, by=by), "Room removed.", by)


def _add_day_off(form, by):
    day = _not_in_past("day", parse_date("day", form.get("day", "")))
    reason = form.get("reason", "")
    if len(reason) > 80:
        raise InvalidValue("reason", "reason must be at most 80 characters")
    return _change(lambda p: p.add_day_off(day, reason, by=by), f"{day} is a day off.", by)


def _remove_day_off(form, by):
    day = parse_date("day", form.get("day", ""))
    return _change(lambda p: p.remove_day_off(day, by=by), f"{day} is no longer a day off.", by)


ACTIONS: dict[str, Callable] = {
    "start": _start, "weekdays": _weekdays, "lunch": _lunch, "add-room": _add_room,
    "room-capacity": _room_capacity, "remove-room": _remove_room,
    "add-day-off": _add_day_off, "remove-day-off": _remove_day_off,
}
