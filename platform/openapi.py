"""The OpenAPI 3.1 document of the JSON API (served at /api/v1/openapi.json).

Lengths and ranges repeat the domain's limits (``require_text`` calls in ``domain/``); a test
sends one character more than each ``maxLength`` and expects the 422 naming that field.
"""

from __future__ import annotations

from commonroom.domain.talk import MAX_TOPICS
from commonroom.domain.trade import MAX_SESSION_MINUTES

JSON = "application/json"
MAX_PASSWORD = 200  # PeopleService.hash_password: 8 to 200 characters


def string(max_length: int | None = None, min_length: int | None = None, **extra) -> dict:
    schema: dict = {"type": "string", **extra}
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def obj(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


UUID_STRING = string(format="uuid")
# Text the server requires: at least one character that is not whitespace (the server collapses
# whitespace, so "   " is empty to it and answers 422 naming the field).
REQUIRED_TEXT = r"\S"
DATE_STRING = string(format="date")
COUNT = {"type": "integer", "minimum": 0}
TOPICS = {
    "description": "a list of topics, or one comma-separated string",
    "anyOf": [
        {"type": "array", "items": string(40), "minItems": 1, "maxItems": MAX_TOPICS},
        string(MAX_TOPICS * 41),
    ],
}

SCHEMAS = {
    "Error": obj({"error": string(), "field": string()}, ("error",)),
    "TokenRequest": obj({"email": string(254, format="email"), "password": string(min_length=1)},
                        ("email", "password")),
    "Token": obj({"token": string(), "peer_id": UUID_STRING}, ("token", "peer_id")),
    "Registration": obj({
        "name": string(80, 1, pattern=REQUIRED_TEXT), "email": string(254, format="email"),
        "department": string(80, 1, pattern=REQUIRED_TEXT),
        "password": string(MAX_PASSWORD, 8), "timezone": string(64, description="an IANA zone; UTC if left out"),
    }, ("name", "email", "department", "password")),
    "Peer": obj({
        "id": UUID_STRING, "name": string(), "department": string(), "is_organizer": {"type": "boolean"},
        "email": string(description="only to the peer themselves and to organizers"),
        "timezone": string(description="only to the peer themselves and to organizers"),
    }, ("id", "name", "department", "is_organizer")),
    "PeerList": obj({"peers": {"type": "array", "items": ref("Peer")}}, ("peers",)),
    "Proposal": obj({"title": string(120, 3), "abstract": string(4000), "topics": TOPICS}, ("title", "topics")),
    "Revision": obj({"title": string(120, 3), "abstract": string(4000), "topics": TOPICS},
                    description="only the fields sent change"),
    "Talk": obj({
        "id": UUID_STRING, "title": string(), "abstract": string(), "topics": {"type": "array", "items": string()},
        "status": {"enum": ["proposed", "scheduled", "withdrawn", "cancelled"]},
        "speaker": obj({"id": UUID_STRING, "name": nullable(string())}),
        "day": nullable(DATE_STRING),
        "room": nullable(obj({"id": string(), "name": string()})),
        "starts_at": nullable(string(format="date-time")), "ends_at": nullable(string(format="date-time")),
        "capacity": COUNT, "confirmed": COUNT, "waitlisted": COUNT, "seats_left": COUNT, "sequence": COUNT,
        "cancel_reason": string(), "proposed_at": string(format="date-time"),
        "updated_at": string(format="date-time"),
    }, ("id", "title", "status", "speaker")),
    "TalkList": obj({"talks": {"type": "array", "items": ref("Talk")}}, ("talks",)),
    "Slot": obj({"day": DATE_STRING, "room_id": string(40, 1)}, ("day", "room_id")),
    "Cancellation": obj({"reason": string(300)}),
    "SignUp": obj({"status": {"enum": ["confirmed", "waitlisted", "cancelled"]},
                   "position": nullable({"type": "integer", "minimum": 1})}, ("status", "position")),
    "SignUps": obj({
        "talk_id": UUID_STRING, "capacity": COUNT, "confirmed": COUNT, "waitlisted": COUNT,
        "me": nullable(ref("SignUp")),
        "signups": {"type": "array", "description": "only to the speaker and organizers", "items": obj({
            "peer_id": UUID_STRING, "name": nullable(string()), "status": string(),
            "position": nullable({"type": "integer"}), "attended": nullable({"type": "boolean"})})},
    }, ("talk_id", "capacity", "confirmed", "waitlisted")),
    "Attendance": obj({"attended": {"type": "object", "minProperties": 1, "description": "peer id -> came?",
                                    "additionalProperties": {"type": "boolean"}}}, ("attended",)),
    "Feedback": obj({"rating": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": string(2000)},
                    ("rating",)),
    "FeedbackGiven": obj({"talk_id": UUID_STRING, "rating": {"type": "integer"}, "comment": string()}),
    "FeedbackSummary": obj({"count": COUNT, "average": nullable({"type": "number"})}),
    "TalkAttendance": obj({
        "talk_id": UUID_STRING, "title": string(), "status": string(), "confirmed": COUNT, "waitlisted": COUNT,
        "attended": COUNT, "no_show": COUNT, "feedback": ref("FeedbackSummary"),
        "people": {"type": "array", "description": "only to the speaker and organizers", "items": {"type": "object"}},
    }, ("talk_id", "confirmed", "waitlisted", "attended", "no_show", "feedback")),
    "PeerAttendance": obj({
        "peer_id": UUID_STRING, "confirmed": COUNT, "waitlisted": COUNT, "attended": COUNT, "no_show": COUNT,
        "feedback_given": ref("FeedbackSummary"), "signups": {"type": "array", "items": {"type": "object"}},
    }, ("peer_id", "confirmed", "waitlisted", "attended", "no_show", "feedback_given", "signups")),
    "Schedule": obj({
        "programme": nullable(obj({"name": string(), "timezone": string(), "lunch_start": string(),
                                   "lunch_minutes": {"type": "integer"}})),
        "from": nullable(DATE_STRING), "to": nullable(DATE_STRING),
        "days": {"type": "array", "items": obj({
            "date": DATE_STRING, "day_off": nullable(string()), "starts_at": string(format="date-time"),
            "slots": {"type": "array", "items": obj({
                "room": obj({"id": string(), "name": string(), "capacity": COUNT}),
                "free": {"type": "boolean"},
                "talk": nullable({"type": "object"})})}})},
    }, ("programme", "days")),
    "Trade": obj({
        "id": UUID_STRING, "proposer_id": UUID_STRING, "partner_id": UUID_STRING, "offer": string(), "want": string(),
        "one_sided": {"type": "boolean"}, "status": string(), "awaiting_id": nullable(UUID_STRING),
        "countered": {"type": "boolean"}, "decline_reason": string(),
        "notes": {"type": "array", "description": "only to the two parties", "items": {"type": "object"}},
        "sessions": {"type": "array", "description": "in GET /trades/{trade_id} only", "items": {"type": "object"}},
    }, ("id", "proposer_id", "partner_id", "status")),
    "TradeList": obj({"trades": {"type": "array", "items": ref("Trade")}}, ("trades",)),
    "TradeOffer": obj({
        "to": string(format="uuid", description="the peer the trade is offered to"),
        "offer": string(60, description="what the caller would teach"),
        "want": string(60, description="what the caller would like to learn"), "message": string(1000),
    }, ("to",), description="offer, want or both (a one-sided offer leaves one out)"),
    "TradeCounter": obj({"want": string(60, 1, pattern=REQUIRED_TEXT, description="what the partner would teach instead")},
                        ("want",)),
    "TradeReason": obj({"reason": string(300)}),
    "TradeSession": obj({
        "teacher": UUID_STRING, "learner": UUID_STRING, "topic": string(80, 1, pattern=REQUIRED_TEXT),
        "date": string(format="date", description="the day the session took place"),
        "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_SESSION_MINUTES},
    }, ("teacher", "learner", "topic", "date", "minutes"),
        description="teacher and learner are the trade's two parties"),
    "TradeNote": obj({"note": string(2000, 1, description="seen only by the trade's two parties")}, ("note",)),
    "Ledger": obj({name: {"type": "integer"} for name in (
        "given", "received", "given_90_days", "received_90_days")} | {
        name: {"type": "object"} for name in ("given_by_skill", "received_by_skill", "per_trade")} | {
        "lopsided": {"type": "boolean"}}),
    "Suggestions": obj({"pairs": {"type": "array", "items": {"type": "object"}},
                        "circles": {"type": "array", "items": {"type": "object"}}}, ("pairs", "circles")),
}

ERRORS = {
    "400": "the body is not a JSON object",
    "401": "no bearer token, or a wrong or expired one (refused on every route); "
           "for POST /api/v1/tokens also a wrong email or password",
    "403": "the caller may not do this",
    "404": "no such thing (unknown or malformed id)",
    "409": "a rule forbids it now (slot taken, talk not open, already signed up...)",
    "422": "a field is missing or wrong; `field` names it",
    "429": "too many failed sign-ins for this email or from this address (5 in 15 minutes, counted "
           "with the sign-in form's); retry after Retry-After seconds",
    "503": "too many changes at once or the database is away; retry after Retry-After seconds",
}


def _error(code: str) -> dict:
    return {"description": ERRORS[code], "content": {JSON: {"schema": ref("Error")}}}


def _path(name: str, what: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": f"the {what}'s id",
            "schema": UUID_STRING}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def op(summary: str, ok: tuple[str, str | None], *, body: str | None = None, body_required: bool = True,
       auth: str = "required", errors: tuple[str, ...] = (), params: tuple[dict, ...] = ()) -> dict:
    """One operation. ``auth``: "required" (bearer token), "optional" (more for some callers), "none"."""
    code, schema = ok
    operation: dict = {"summary": summary, "responses": {
        code: {"description": summary, **({"content": {JSON: {"schema": ref(schema)}}} if schema else {})}}}
    if params:
        operation["parameters"] = list(params)
    if body:
        operation["requestBody"] = {"required": body_required, "content": {JSON: {"schema": ref(body)}}}
        errors = ("400", "422", *errors)
    operation["security"] = {"required": [{"bearer": []}], "optional": [{}, {"bearer": []}]}.get(auth, [])
    errors = ("401", *errors)  # a wrong or expired token is refused even where none is needed
    for error in sorted(set(errors)):
        operation["responses"][error] = _error(error)
    return operation


TALK = _path("talk_id", "talk")
PEER = _path("peer_id", "peer")
TRADE = _path("trade_id", "trade")
SESSION = {"name": "session_id", "in": "path", "required": True,
           "description": "the session's number in its trade", "schema": string(8)}
COMMAND_ERRORS = ("403", "404", "409", "503")


def paths() -> dict:
    return {
        "/api/v1/openapi.json": {"get": {"summary": "this document", "security": [],
                                         "responses": {"200": {"description": "the OpenAPI document"},
                                                       "401": _error("401")}}},
        "/api/v1/tokens": {"post": op("get a bearer token", ("201", "Token"), body="TokenRequest", auth="none",
                                        errors=("429",))},
        "/api/v1/peers": {
            "post": op("register a peer", ("201", "Peer"), body="Registration", auth="none", errors=("409", "503")),
            "get": op("list active peers", ("200", "PeerList"), auth="optional"),
        },
        "/api/v1/peers/{peer_id}": {"get": op("one peer", ("200", "Peer"), auth="optional", errors=("404",),
                                              params=(PEER,))},
        "/api/v1/me": {"get": op("the caller", ("200", "Peer"))},
        "/api/v1/talks": {
            "post": op("propose a talk", ("201", "Talk"), body="Proposal", errors=("403", "409", "503")),
            "get": op("list talks", ("200", "TalkList"), auth="none", errors=("422",), params=(
                _query("status", {"enum": ["proposed", "scheduled", "withdrawn", "cancelled"]}, "only this status"),
                _query("from", DATE_STRING, "only talks on or after this lunch day"),
                _query("to", DATE_STRING, "only talks on or before this lunch day"),
            )),
        },
        "/api/v1/talks/{talk_id}": {
            "get": op("one talk", ("200", "Talk"), auth="none", errors=("404",), params=(TALK,)),
            "patch": op("revise a talk (speaker only)", ("200", "Talk"), body="Revision", errors=COMMAND_ERRORS,
                        params=(TALK,)),
        },
        "/api/v1/talks/{talk_id}/schedule": {"post": op(
            "schedule or reschedule into a lunch slot (speaker or organizer)", ("200", "Talk"), body="Slot",
            errors=COMMAND_ERRORS, params=(TALK,))},
        "/api/v1/talks/{talk_id}/cancel": {"post": op(
            "cancel a scheduled talk (speaker or organizer)", ("200", "Talk"), body="Cancellation",
            body_required=False, errors=COMMAND_ERRORS, params=(TALK,))},
        "/api/v1/talks/{talk_id}/withdraw": {"post": op(
            "withdraw an unscheduled proposal (speaker only)", ("200", "Talk"), errors=COMMAND_ERRORS,
            params=(TALK,))},
        "/api/v1/talks/{talk_id}/signups": {
            "post": op("sign the caller up (a seat, or the waitlist)", ("201", "SignUp"), errors=COMMAND_ERRORS,
                       params=(TALK,)),
            "get": op("sign-up counts; the full list for the speaker and organizers", ("200", "SignUps"),
                      auth="optional", errors=("404",), params=(TALK,)),
        },
        "/api/v1/talks/{talk_id}/signups/me": {"delete": op(
            "cancel the caller's sign-up (the waitlist moves up)", ("200", "SignUp"), errors=COMMAND_ERRORS,
            params=(TALK,))},
        "/api/v1/talks/{talk_id}/attendance": {"post": op(
            "record who came (speaker or organizer, once the talk started)", ("200", "TalkAttendance"),
            body="Attendance", errors=COMMAND_ERRORS, params=(TALK,))},
        "/api/v1/talks/{talk_id}/feedback": {"post": op(
            "rate a talk the caller attended", ("201", "FeedbackGiven"), body="Feedback", errors=COMMAND_ERRORS,
            params=(TALK,))},
        "/api/v1/schedule": {"get": op("lunch slots: days x rooms, free or holding a talk", ("200", "Schedule"),
                                       auth="none", errors=("422",), params=(
            _query("from", DATE_STRING, "first day (default: today in the programme's zone)"),
            _query("weeks", {"type": "integer", "minimum": 1, "maximum": 12, "default": 2}, "how many weeks"),
        ))},
        "/api/v1/attendance/talks/{talk_id}": {"get": op(
            "a talk's attendance: counts and feedback; names for the speaker and organizers",
            ("200", "TalkAttendance"), auth="optional", errors=("404",), params=(TALK,))},
        "/api/v1/attendance/peers/{peer_id}": {"get": op(
            "a peer's sign-ups, attendance and feedback (the peer or an organizer)", ("200", "PeerAttendance"),
            errors=("403", "404"), params=(PEER,))},
        "/api/v1/trades": {
            "get": op("the caller's trades of expertise", ("200", "TradeList")),
            "post": op("offer a trade to another peer", ("201", "Trade"), body="TradeOffer",
                       errors=("409", "503")),
        },
        "/api/v1/trades/{trade_id}": {"get": op(
            "one trade the caller is party to, with its sessions", ("200", "Trade"), errors=("404",),
            params=(TRADE,))},
        "/api/v1/trades/{trade_id}/accept": {"post": op(
            "accept the proposal (the party it awaits)", ("200", "Trade"), errors=COMMAND_ERRORS, params=(TRADE,))},
        "/api/v1/trades/{trade_id}/decline": {"post": op(
            "decline the proposal (the party it awaits)", ("200", "Trade"), body="TradeReason",
            body_required=False, errors=COMMAND_ERRORS, params=(TRADE,))},
        "/api/v1/trades/{trade_id}/withdraw": {"post": op(
            "withdraw the caller's open proposal", ("200", "Trade"), errors=COMMAND_ERRORS, params=(TRADE,))},
        "/api/v1/trades/{trade_id}/counter": {"post": op(
            "counter the proposal with another want (the partner)", ("200", "Trade"), body="TradeCounter",
            errors=COMMAND_ERRORS, params=(TRADE,))},
        "/api/v1/trades/{trade_id}/sessions": {"post": op(
            "log a session of an active trade (a party; the other confirms it)", ("201", "Trade"),
            body="TradeSession", errors=COMMAND_ERRORS, params=(TRADE,))},
        "/api/v1/trades/{trade_id}/sessions/{session_id}/confirm": {"post": op(
            "confirm a session the other party logged", ("200", "Trade"), errors=COMMAND_ERRORS,
            params=(TRADE, SESSION))},
        "/api/v1/trades/{trade_id}/sessions/{session_id}/dispute": {"post": op(
            "dispute a session the other party logged", ("200", "Trade"), body="TradeReason",
            body_required=False, errors=COMMAND_ERRORS, params=(TRADE, SESSION))},
        "/api/v1/trades/{trade_id}/notes": {"post": op(
            "add a confidential note (the two parties only)", ("201", "Trade"), body="TradeNote",
            errors=COMMAND_ERRORS, params=(TRADE,))},
        "/api/v1/trades/ledger": {"get": op("the caller's minutes given and received", ("200", "Ledger"))},
        "/api/v1/trades/suggestions": {"get": op("partners (or a circle) to trade with", ("200", "Suggestions"))},
    }


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Commonroom API", "version": "1.0.0",
            "description": "Lunch talks: peers, proposals, the lunch schedule, sign-ups with a waitlist, "
                           "attendance and feedback. Get a token from POST /api/v1/tokens and send "
                           "`Authorization: Bearer <token>`. Errors are `{\"error\", \"field\"}`.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from POST /api/v1/tokens (30 days)"}},
            "schemas": SCHEMAS,
        },
        "paths": paths(),
    }
