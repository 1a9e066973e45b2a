"""JSON API under /api/v1: bearer tokens, peers, talks, sign-ups, the lunch schedule, attendance.

Only a bearer token (``POST /api/v1/tokens``) identifies the caller here, never the browser
session, which is why these routes need no CSRF token. Registering and asking for a token are
open; every other write needs the token. Reads are open, but people's private data is not:
emails and time zones only reach the peer themselves or an organizer, who came to a talk only
its speaker or an organizer, and a peer's attendance record only that peer or an organizer.
Each command is followed by ``settle(position)``, so the answer, read from the read models,
already shows the change (read-your-writes). The OpenAPI document lives in
``commonroom.platform.openapi``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, jsonify, request, url_for

from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, NotFound
from commonroom.domain.peer import normalise_email
from commonroom.platform import queries
from commonroom.platform.openapi import openapi_document
from commonroom.platform.web import forms, security
from commonroom.platform.web.auth import signed_in_peer
from commonroom.platform.web.security import CurrentPeer

bp = Blueprint("api", __name__, url_prefix="/api/v1")

TALK_STATUSES = ("proposed", "scheduled", "withdrawn", "cancelled")
MAX_WEEKS = 12
FIELD_NAMES = {"room": "room_id"}  # domain field name -> the name this API uses for it


class Unauthorized(DomainError):
    status = 401

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        super().__init__(message)
        self.challenge = 'Bearer realm="commonroom"' + (', error="invalid_token"' if invalid_token else "")


class MalformedBody(DomainError):
    status = 400


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    body = {"error": str(error)}
    if error.field:
        body["field"] = FIELD_NAMES.get(error.field, error.field)
    headers = {}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = error.challenge
    if error.retry_after:
        headers["Retry-After"] = str(error.retry_after)
    return jsonify(body), error.status, headers


def services():
    return current_app.extensions["commonroom"]


def engine():
    return services().engine


# --- input ----------------------------------------------------------------------------------------
@bp.before_request
def _authenticate() -> None:
    """Read the bearer token on every API request: a wrong or expired one is refused even where
    no token is needed, rather than quietly treating the caller as anonymous."""
    g.api_peer = None
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            g.api_peer = security.peer_from_token(token.strip())
        if g.api_peer is None:
            raise Unauthorized("the bearer token is invalid or expired; POST /api/v1/tokens for a new one",
                               invalid_token=True)


def caller(required: bool = True) -> CurrentPeer | None:
    """The peer named by the bearer token, or None for an anonymous caller where that is fine."""
    if g.api_peer is None and required:
        raise Unauthorized("sign in first: send Authorization: Bearer <token> (POST /api/v1/tokens)")
    return g.api_peer


def json_body(required: bool = True) -> dict:
    if not required and not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object, sent with Content-Type: application/json")
    return data


def optional_text(body: dict, field: str) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue(field, f"{field} must be text")
    return value


def json_date(field: str, value: object) -> date:
    if not isinstance(value, str):
        raise InvalidValue(field, f"{field} must be a date like 2026-12-01")
    return forms.parse_date(field, value)


def query_date(field: str) -> date | None:
    value = request.args.get(field)
    return forms.parse_date(field, value) if value else None


def path_id(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None


def created(body: dict, location: str):
    return jsonify(body), 201, {"Location": location}


# --- output ---------------------------------------------------------------------------------------
def peer_json(row, viewer: CurrentPeer | None) -> dict:
    body = {"id": row.id, "name": row.name, "department": row.department, "is_organizer": row.is_organizer}
    if viewer is not None and (viewer.is_organizer or str(viewer.id) == row.id):
        body.update(email=row.email, timezone=row.timezone)
    return body


def programme_zone() -> str:
    programme = queries.api_programme(engine())
    return programme.timezone if programme else "UTC"


def iso(moment, zone: str) -> str | None:
    shown = queries.as_zone(moment, zone)
    return shown.isoformat() if shown else None


def talk_json(talk, zone: str) -> dict:
    return {
        "id": talk.id, "title": talk.title, "abstract": talk.abstract,
        "topics": [topic for topic in talk.topics.split(",") if topic],
        "status": talk.status,
        "speaker": {"id": talk.speaker_id, "name": talk.speaker_name},
        "day": talk.day.isoformat() if talk.day else None,
        "room": {"id": talk.room_id, "name": talk.room_name or talk.room_id} if talk.room_id else None,
        "starts_at": iso(talk.starts_at, zone), "ends_at": iso(talk.ends_at, zone),
        "capacity": talk.capacity, "confirmed": talk.confirmed, "waitlisted": talk.waitlisted,
        "seats_left": max(talk.capacity - talk.confirmed, 0),
        "sequence": talk.sequence, "cancel_reason": talk.cancel_reason,
        "proposed_at": iso(talk.proposed_at, "UTC"), "updated_at": iso(talk.updated_at, "UTC"),
    }


def talk_or_404(talk_id: str):
    row = queries.api_talk(engine(), path_id(talk_id, "talk"))
    if row is None:
        raise NotFound("no such talk")
    return row


def answer_talk(talk_id: UUID, position: int, status: int = 200):
    services().settle(position)
    body = talk_json(talk_or_404(str(talk_id)), programme_zone())
    if status == 201:
        return created(body, url_for("api.get_talk", talk_id=str(talk_id)))
    return jsonify(body)


def sees_who(talk, viewer: CurrentPeer | None) -> bool:
    """Speakers and organizers see who signed up and who came; everyone else sees counts."""
    return viewer is not None and (viewer.is_organizer or str(viewer.id) == talk.speaker_id)


# --- the document ---------------------------------------------------------------------------------
@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


# --- tokens and peers -----------------------------------------------------------------------------
@bp.post("/tokens")
def create_token():
    body = json_body()
    email = normalise_email(body.get("email"))
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidValue("password", "password is required")
    row = signed_in_peer(email, password)  # counted with the sign-in form's tries, in every process
    if row is None:
        raise Unauthorized("that email and password do not match an account")
    return jsonify({"token": security.issue_token(UUID(row.id)), "peer_id": row.id}), 201


@bp.post("/peers")
def register_peer():
    body = json_body()
    result = services().people.register(
        body.get("name"), body.get("email"), body.get("department"), body.get("password"),
        body.get("timezone") or "UTC",
    )
    services().settle(result.position)
    row = queries.api_peer(engine(), result.peer_id)
    owner = security.load_peer(result.peer_id)
    return created(peer_json(row, owner), url_for("api.get_peer", peer_id=row.id))


@bp.get("/peers")
def list_peers():
    viewer = caller(required=False)
    return jsonify({"peers": [peer_json(row, viewer) for row in queries.api_peers(engine())]})


@bp.get("/peers/<peer_id>")
def get_peer(peer_id: str):
    viewer = caller(required=False)
    row = queries.api_peer(engine(), path_id(peer_id, "peer"))
    if row is None:
        raise NotFound("no such peer")
    return jsonify(peer_json(row, viewer))


@bp.get("/me")
def me():
    viewer = caller()
    return jsonify(peer_json(queries.api_peer(engine(), viewer.id), viewer))


# --- talks ----------------------------------------------------------------------------------------
@bp.post("/talks")
def propose_talk():
    speaker = caller()
    body = json_body()
    talk_id, position = services().talks.propose(
        speaker.id, body.get("title"), optional_text(body, "abstract"), body.get("topics"))
    return answer_talk(talk_id, position, 201)


@bp.get("/talks")
def list_talks():
    status = request.args.get("status") or None
    if status is not None and status not in TALK_STATUSES:
        raise InvalidValue("status", f"status must be one of {', '.join(TALK_STATUSES)}")
    start, end = query_date("from"), query_date("to")
    if start and end and end < start:
        raise InvalidValue("to", "to must not be before from")
    zone = programme_zone()
    rows = queries.api_talks(engine(), status, start, end)
    return jsonify({"talks": [talk_json(row, zone) for row in rows]})


@bp.get("/talks/<talk_id>")
def get_talk(talk_id: str):
    return jsonify(talk_json(talk_or_404(talk_id), programme_zone()))


@bp.patch("/talks/<talk_id>")
def revise_talk(talk_id: str):
    by = caller()
    body = json_body()
    current = talk_or_404(talk_id)
    position = services().talks.revise(
        UUID(current.id),
        body["title"] if "title" in body else current.title,
        optional_text(body, "abstract") if "abstract" in body else current.abstract,
        body["topics"] if "topics" in body else current.topics,
        by=by.id,
    )
    return answer_talk(UUID(current.id), position)


@bp.post("/talks/<talk_id>/schedule")
def schedule_talk(talk_id: str):
    by = caller()
    body = json_body()
    day = json_date("day", body.get("day"))
    if day < services().clock.now().date():
        raise InvalidValue("day", "choose a lunch slot in the future")
    room_id = body.get("room_id")
    if not isinstance(room_id, str) or not room_id.strip():
        raise InvalidValue("room_id", "room_id must name a room of the programme")
    if not queries.api_room_exists(engine(), room_id):
        raise InvalidValue("room_id", f"the programme has no room {room_id!r}")
    talk = path_id(talk_id, "talk")
    return answer_talk(talk, services().talks.schedule(talk, day, room_id, by=by.id))


@bp.post("/talks/<talk_id>/cancel")
def cancel_talk(talk_id: str):
    by = caller()
    reason = optional_text(json_body(required=False), "reason")
    talk = path_id(talk_id, "talk")
    return answer_talk(talk, services().talks.cancel(talk, reason, by=by.id))


@bp.post("/talks/<talk_id>/withdraw")
def withdraw_talk(talk_id: str):
    by = caller()
    talk = path_id(talk_id, "talk")
    return answer_talk(talk, services().talks.withdraw(talk, by=by.id))


# --- sign-ups, attendance, feedback ---------------------------------------------------------------
def signup_json(row) -> dict:
    return {"status": row.status, "position": row.position}


@bp.post("/talks/<talk_id>/signups")
def sign_up(talk_id: str):
    peer = caller()
    talk = path_id(talk_id, "talk")
    services().settle(services().talks.sign_up(talk, peer.id))
    body = signup_json(queries.api_signup(engine(), talk, peer.id))
    return created(body, url_for("api.list_signups", talk_id=str(talk)))


@bp.delete("/talks/<talk_id>/signups/me")
def cancel_sign_up(talk_id: str):
    peer = caller()
    talk = path_id(talk_id, "talk")
    services().settle(services().talks.cancel_sign_up(talk, peer.id))
    return jsonify(signup_json(queries.api_signup(engine(), talk, peer.id)))


@bp.get("/talks/<talk_id>/signups")
def list_signups(talk_id: str):
    viewer = caller(required=False)
    talk = talk_or_404(talk_id)
    body = {"talk_id": talk.id, "capacity": talk.capacity, "confirmed": talk.confirmed,
            "waitlisted": talk.waitlisted}
    if viewer is not None:
        mine = queries.api_signup(engine(), UUID(talk.id), viewer.id)
        body["me"] = signup_json(mine) if mine is not None and mine.status != "cancelled" else None
    if sees_who(talk, viewer):
        body["signups"] = [{"peer_id": s.peer_id, "name": s.peer_name, **signup_json(s),
                            "attended": s.attended}
                           for s in queries.api_signups_of_talk(engine(), UUID(talk.id))]
    return jsonify(body)


@bp.post("/talks/<talk_id>/attendance")
def record_attendance(talk_id: str):
    by = caller()
    attended = json_body().get("attended")
    if not isinstance(attended, dict) or not attended:
        raise InvalidValue("attended", "attended must map peer ids to true or false")
    marks: dict[UUID, bool] = {}
    for peer_id, was_there in attended.items():
        if not isinstance(was_there, bool):
            raise InvalidValue("attended", f"attended[{peer_id}] must be true or false")
        marks[forms.parse_uuid("attended", peer_id)] = was_there
    talk = path_id(talk_id, "talk")
    services().settle(services().talks.record_attendance(talk, marks, by=by.id))
    return jsonify(talk_attendance_json(talk_or_404(str(talk)), by))


@bp.post("/talks/<talk_id>/feedback")
def give_feedback(talk_id: str):
    peer = caller()
    body = json_body()
    talk = path_id(talk_id, "talk")
    comment = optional_text(body, "comment")
    services().settle(services().talks.give_feedback(talk, peer.id, body.get("rating"), comment))
    row = queries.api_signup(engine(), talk, peer.id)
    return created({"talk_id": str(talk), "rating": row.rating, "comment": row.comment},
                   url_for("api.talk_attendance", talk_id=str(talk)))


# --- reads ----------------------------------------------------------------------------------------
@bp.get("/schedule")
def schedule():
    weeks = forms.parse_int("weeks", request.args.get("weeks", "2"))
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidValue("weeks", f"weeks must be from 1 to {MAX_WEEKS}")
    programme = queries.api_programme(engine())
    if programme is None:
        return jsonify({"programme": None, "from": None, "to": None, "days": []})
    zone = ZoneInfo(programme.timezone)
    start = query_date("from") or services().clock.now().astimezone(zone).date()
    days = queries.api_lunch_days(engine(), start, 7 * weeks)
    return jsonify({
        "programme": {"name": programme.name, "timezone": programme.timezone,
                      "lunch_start": programme.lunch_start.isoformat("minutes"),
                      "lunch_minutes": programme.lunch_minutes},
        "from": start.isoformat(), "to": (start + timedelta(days=7 * weeks - 1)).isoformat(),
        "days": [{"date": day.day.isoformat(), "day_off": day.day_off,
                  "starts_at": datetime.combine(day.day, programme.lunch_start, tzinfo=zone).isoformat(),
                  "slots": [slot_json(room, day.talks.get(room.id), programme.timezone)
                            for room in day.rooms]}
                 for day in days],
    })


def slot_json(room, talk, zone: str) -> dict:
    body = {"room": {"id": room.id, "name": room.name, "capacity": room.capacity},
            "free": talk is None, "talk": None}
    if talk is not None:
        full = talk_json(talk, zone)
        body["talk"] = {key: full[key] for key in
                        ("id", "title", "speaker", "capacity", "confirmed", "waitlisted", "seats_left")}
    return body


def count(rows, **match) -> int:
    return sum(1 for row in rows if all(getattr(row, key) == value for key, value in match.items()))


def feedback(ratings: list[int]) -> dict:
    return {"count": len(ratings), "average": round(sum(ratings) / len(ratings), 2) if ratings else None}


def talk_attendance_json(talk, viewer: CurrentPeer | None) -> dict:
    signups = queries.api_signups_of_talk(engine(), UUID(talk.id))
    body = {
        "talk_id": talk.id, "title": talk.title, "status": talk.status,
        "confirmed": count(signups, status="confirmed"), "waitlisted": count(signups, status="waitlisted"),
        "attended": count(signups, status="confirmed", attended=True),
        "no_show": count(signups, status="confirmed", attended=False),
        "feedback": feedback([s.rating for s in signups if s.rating is not None]),
    }
    if sees_who(talk, viewer):
        body["people"] = [{"peer_id": s.peer_id, "name": s.peer_name, **signup_json(s),
                           "attended": s.attended,
                           "rating": s.rating, "comment": s.comment} for s in signups]
    return body


@bp.get("/attendance/talks/<talk_id>")
def talk_attendance(talk_id: str):
    viewer = caller(required=False)
    return jsonify(talk_attendance_json(talk_or_404(talk_id), viewer))


@bp.get("/attendance/peers/<peer_id>")
def peer_attendance(peer_id: str):
    viewer = caller()
    peer = path_id(peer_id, "peer")
    if viewer.id != peer and not viewer.is_organizer:
        raise NotAllowed("only the peer themselves or an organizer can see their attendance")
    if queries.api_peer(engine(), peer) is None:
        raise NotFound("no such peer")
    rows = queries.api_signups_of_peer(engine(), peer)
    return jsonify({
        "peer_id": str(peer),
        "confirmed": count(rows, status="confirmed"), "waitlisted": count(rows, status="waitlisted"),
        "attended": count(rows, status="confirmed", attended=True),
        "no_show": count(rows, status="confirmed", attended=False),
        "feedback_given": feedback([r.rating for r in rows if r.rating is not None]),
        "signups": [{"talk_id": r.talk_id, "title": r.title, "day": r.day.isoformat() if r.day else None,
                     "talk_status": r.talk_status, **signup_json(r), "attended": r.attended,
                     "rating": r.rating}
                    for r in rows],
    })
