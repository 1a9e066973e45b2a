"""iCalendar feeds: the whole programme, and one peer's own talks and sign-ups.

Each talk is one VEVENT with a stable UID (``<talk id>@commonroom``) and the talk's ``sequence``
as SEQUENCE, so calendar clients update the event in place when a talk moves or is cancelled.
"""

from __future__ import annotations

from datetime import timezone
from uuid import UUID

from flask import Blueprint, Response, abort, current_app, g, request, url_for
from icalendar import Calendar, Event

from commonroom.platform import queries
from commonroom.platform.web.security import feed_token_matches

bp = Blueprint("feeds", __name__)


def services():
    return current_app.extensions["commonroom"]


@bp.route("/programme.ics")
def programme():
    return ics_response(queries.feed_talks(services().engine), "Commonroom lunch talks")


@bp.route("/calendar/<peer_id>.ics")
def personal(peer_id):
    try:
        peer = UUID(peer_id)
    except ValueError:
        abort(404, "there is no such calendar")
    signed_in_as_owner = g.get("peer") is not None and g.peer.id == peer
    if not signed_in_as_owner and not feed_token_matches(peer, request.args.get("token", "")):
        abort(404, "there is no such calendar")  # the same answer as for an unknown peer
    return ics_response(queries.feed_talks(services().engine, peer), "My Commonroom lunch talks")


def ics_response(rows: list, name: str) -> Response:
    shape = queries.programme_shape(services().engine)
    zone = shape.programme.timezone if shape else "UTC"
    calendar = Calendar()
    calendar.add("prodid", "-//Commonroom//Lunch talks//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    for row in rows:
        calendar.add_component(talk_event(row, zone))
    return Response(calendar.to_ical(), mimetype="text/calendar",
                    headers={"Content-Disposition": "inline; filename=commonroom.ics"})


def talk_event(row, zone: str) -> Event:
    talk = row.TalkRow
    event = Event()
    event.add("uid", f"{talk.id}@commonroom")
    event.add("sequence", talk.sequence)
    event.add("dtstamp", queries.as_zone(talk.updated_at, "UTC").astimezone(timezone.utc))
    event.add("dtstart", queries.as_zone(talk.starts_at, zone).astimezone(timezone.utc))
    event.add("dtend", queries.as_zone(talk.ends_at, zone).astimezone(timezone.utc))
    event.add("summary", talk.title)
    event.add("location", row.room_name or talk.room_id or "")
    description = f"{row.speaker_name or 'A colleague'}: {talk.abstract}".strip()
    if talk.status == "cancelled":
        event.add("status", "CANCELLED")
        description = f"Cancelled{': ' + talk.cancel_reason if talk.cancel_reason else ''}. {description}"
    else:
        event.add("status", "CONFIRMED")
    event.add("description", description)
    event.add("url", url_for("talks.show", talk_id=talk.id, _external=True))
    return event
