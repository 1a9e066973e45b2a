"""Trades of expertise and the mentoring programme: pages (work without JavaScript) and a JSON API
under /api/v1/trades (bearer token; every command answers with the trade as its parties see it).

Confidential trade notes are shown only to the trade's two parties: organizers may open a trade's
page (to help when asked) but never see its notes, on the pages or through the API.
"""

from __future__ import annotations

import json
from uuid import UUID

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for

from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, NotFound
from commonroom.platform import trading
from commonroom.platform.web import forms, security
from commonroom.platform.web.consistency import after_command
from commonroom.platform.web.api import created, json_body, json_date
from commonroom.platform.web.security import login_required, organizer_required
from commonroom.projections import mentoring as mentoring_view
from commonroom.projections import trades as trades_view
from commonroom.projections.people import PeerRow

bp = Blueprint("trades", __name__)
api_bp = Blueprint("trades_api", __name__, url_prefix="/api/v1/trades")
blueprints = [bp, api_bp]

TRADE_ACTIONS = ("accept", "decline", "withdraw", "counter", "pause", "resume", "end", "reflect", "note",
                 "session")
SESSION_ACTIONS = ("confirm", "dispute", "correct")


def services():
    return current_app.extensions["commonroom"]


def engine():
    return services().engine


def today():
    return services().clock.now().date()


def uuid_or_404(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None


def visible_trade(trade_id: str, viewer) -> trades_view.TradeRow:
    """The trade, if the viewer is one of its parties or an organizer; otherwise it does not exist."""
    row = trades_view.trade(engine(), uuid_or_404(trade_id, "trade"))
    if row is None or viewer is None or not (trades_view.is_party(row, viewer.id) or viewer.is_organizer):
        raise NotFound("no such trade")
    return row


def trade_context(row, viewer) -> dict:
    sessions = trades_view.sessions_of(engine(), row.id)
    balance = {row.proposer_id: 0, row.partner_id: 0}
    for session in sessions:
        if session.status == "confirmed":
            balance[session.teacher_id] += session.minutes
    return dict(
        trade=row, sessions=sessions, notes=trades_view.notes_for(engine(), row, viewer.id),
        is_party=trades_view.is_party(row, viewer.id),
        reflections=trades_view.reflections_of(engine(), row.id),
        names=trades_view.names(engine(), [row.proposer_id, row.partner_id]), balance=balance,
        me=str(viewer.id),
    )


# --- trade pages ----------------------------------------------------------------------------------
@bp.route("/trades")
@login_required
def index():
    rows = trades_view.trades_of(engine(), g.peer.id)
    others = {r.partner_id if r.proposer_id == str(g.peer.id) else r.proposer_id for r in rows}
    circles = trades_view.circles_of(engine(), g.peer.id)
    circle_people = {m.peer_id for members in circles.values() for m in members}
    return render_template("trades/index.html", trades=rows, circles=circles,
                           names=trades_view.names(engine(), others | circle_people), me=str(g.peer.id))


@bp.route("/trades/new", methods=["GET", "POST"])
@login_required
def new():
    form = request.form if request.method == "POST" else request.args
    partner = partner_row(form)
    if request.method == "POST":
        try:
            if partner is None:
                raise InvalidValue("partner", "choose someone registered here (their work email)")
            trade_id, position = services().trades.propose(
                g.peer.id, UUID(partner.id), form.get("offer"), form.get("want"), form.get("message"))
        except DomainError as error:
            return render_template("trades/new.html", form=form, error=error, partner=partner), error.status
        after_command(position)
        return redirect(url_for("trades.show", trade_id=trade_id))
    return render_template("trades/new.html", form=form, error=None, partner=partner)


def partner_row(form):
    """The chosen partner, by id (from a suggestion) or by work email (typed)."""
    with engine().connect() as c:
        if form.get("to"):
            return c.execute(sa.select(PeerRow).where(PeerRow.id == form.get("to"),
                                                      PeerRow.active.is_(True))).first()
        email = (form.get("partner") or "").strip().lower()
        if email:
            return c.execute(sa.select(PeerRow).where(PeerRow.email == email,
                                                      PeerRow.active.is_(True))).first()
    return None


@bp.route("/trades/<trade_id>")
@login_required
def show(trade_id: str):
    row = visible_trade(trade_id, g.peer)
    return render_template("trades/show.html", **trade_context(row, g.peer), form={}, error=None, failed=None)


@bp.route("/trades/<trade_id>/<action>", methods=["POST"])
@login_required
def act(trade_id: str, action: str):
    if action not in TRADE_ACTIONS:
        raise NotFound("no such action")
    row = visible_trade(trade_id, g.peer)
    return run_trade_command(row, action, lambda: trade_command(UUID(row.id), action, request.form))


@bp.route("/trades/<trade_id>/sessions/<number>/<action>", methods=["POST"])
@login_required
def act_on_session(trade_id: str, number: str, action: str):
    if action not in SESSION_ACTIONS:
        raise NotFound("no such action")
    row = visible_trade(trade_id, g.peer)
    return run_trade_command(row, f"{action}-{number}",
                             lambda: session_command(UUID(row.id), number, action, request.form))


def run_trade_command(row, failed: str, command):
    try:
        position = command()
    except DomainError as error:
        context = trade_context(row, g.peer)
        return render_template("trades/show.html", **context, form=request.form, error=error,
                               failed=failed), error.status
    after_command(position)
    return redirect(url_for("trades.show", trade_id=row.id))


def trade_command(trade_id: UUID, action: str, form) -> int:
    trades, me = services().trades, g.peer.id
    if action == "session":
        return trades.log_session(trade_id, teacher(form), form.get("topic"),
                                  forms.parse_date("on", form.get("on")),
                                  forms.parse_int("minutes", form.get("minutes")), by=me)
    simple = {"accept": trades.accept, "withdraw": trades.withdraw, "pause": trades.pause,
              "resume": trades.resume}
    if action in simple:
        return simple[action](trade_id, by=me)
    texts = {"decline": (trades.decline, "reason"), "counter": (trades.counter, "want"),
             "end": (trades.end, "reflection"), "reflect": (trades.reflect, "reflection"),
             "note": (trades.add_note, "note")}
    method, field = texts[action]
    return method(trade_id, form.get(field, ""), by=me)


def session_command(trade_id: UUID, number: str, action: str, form) -> int:
    trades, me = services().trades, g.peer.id
    if action == "confirm":
        return trades.confirm_session(trade_id, number, by=me)
    if action == "dispute":
        return trades.dispute_session(trade_id, number, form.get("reason", ""), by=me)
    return trades.correct_session(trade_id, number, teacher(form), form.get("topic"),
                                  forms.parse_date("on", form.get("on")),
                                  forms.parse_int("minutes", form.get("minutes")), by=me)


def teacher(form) -> UUID:
    return forms.parse_uuid("teacher", form.get("teacher"))


@bp.route("/trades/ledger")
@login_required
def ledger():
    mine = trades_view.ledger(engine(), g.peer.id, today())
    rows = {r.id: r for r in trades_view.trades_of(engine(), g.peer.id)}
    others = {r.partner_id if r.proposer_id == str(g.peer.id) else r.proposer_id for r in rows.values()}
    return render_template("trades/ledger.html", ledger=mine, trades=rows,
                           names=trades_view.names(engine(), others),
                           me=str(g.peer.id), window=trades_view.LEDGER_WINDOW_DAYS)


@bp.route("/trades/suggestions")
@login_required
def suggestions():
    pairs = trading.suggestions_for(engine(), g.peer.id)
    circles = [] if pairs else trading.circles_for(engine(), g.peer.id)
    return render_template("trades/suggestions.html", pairs=pairs, circles=circles, form={}, error=None)


@bp.route("/trades/circles", methods=["POST"])
@login_required
def propose_circle():
    try:
        members = [forms.parse_uuid("members", m) for m in request.form.getlist("members")]
        circle_id, position = services().trades.propose_circle(members, request.form.getlist("skills"),
                                                               by=g.peer.id)
    except DomainError as error:
        return render_template("trades/suggestions.html", pairs=[], circles=[], form=request.form,
                               error=error), error.status
    after_command(position)
    return redirect(url_for("trades.index") + f"#circle-{circle_id}")


@bp.route("/trades/circles/<circle_id>/<action>", methods=["POST"])
@login_required
def answer_circle(circle_id: str, action: str):
    circle = uuid_or_404(circle_id, "circle")
    if action == "accept":
        position = services().trades.accept_circle(circle, by=g.peer.id)
    elif action == "decline":
        position = services().trades.decline_circle(circle, request.form.get("reason", ""), by=g.peer.id)
    else:
        raise NotFound("no such action")
    after_command(position)
    return redirect(url_for("trades.index") + f"#circle-{circle_id}")


@bp.route("/trades/profile", methods=["GET", "POST"])
@login_required
def profile():
    row = trades_view.profile(engine(), g.peer.id)
    if request.method == "POST":
        form = request.form
        try:
            position = services().trades.update_profile(
                g.peer.id, form.get("current_position"), form.get("desired_position"),
                form.get("opted_out") == "on",
                forms.parse_int("max_active_trades", form.get("max_active_trades")))
        except DomainError as error:
            return render_template("trades/profile.html", form=form, error=error), error.status
        after_command(position)
        return redirect(url_for("trades.profile"))
    form = {"current_position": row.current_position if row else "",
            "desired_position": row.desired_position if row else "",
            "max_active_trades": str(row.max_active_trades if row else 3),
            "opted_out": row.opted_out if row else False}
    return render_template("trades/profile.html", form=form, error=None)


# --- mentoring pages ------------------------------------------------------------------------------
@bp.route("/mentoring", methods=["GET", "POST"])
@login_required
def mentoring():
    form, error, status = request.form, None, 200
    if request.method == "POST":
        try:
            programme_id, position = services().mentoring.start_programme(
                form.get("name"), form.get("description"), by=g.peer.id)
            after_command(position)
            return redirect(url_for("trades.mentoring_programme", programme_id=programme_id))
        except DomainError as caught:
            error, status = caught, caught.status
    mine = mentoring_view.mentorships(engine(), peer_id=g.peer.id)
    names = trades_view.names(engine(), {m.mentor_id for m in mine} | {m.mentee_id for m in mine})
    return render_template("mentoring/index.html", programmes=mentoring_view.programmes(engine()), mine=mine,
                           names=names, form=form, error=error), status


def programme_context(programme_id: str) -> dict:
    row = mentoring_view.programme(engine(), uuid_or_404(programme_id, "programme"))
    if row is None:
        raise NotFound("no such programme")
    members = mentoring_view.members(engine(), row.id)
    pairs = mentoring_view.mentorships(engine(), programme_id=row.id)
    ids = {m.peer_id for m in members} | {p.mentor_id for p in pairs} | {p.mentee_id for p in pairs}
    names = trades_view.names(engine(), ids)
    context = dict(programme=row, members=members, pairs=pairs, names=names, me=str(g.peer.id),
                   mentors=[m for m in members if m.role == "mentor"],
                   applicants=[m for m in members if m.role == "mentee" and not m.paired],
                   my_role=next((m.role for m in members if m.peer_id == str(g.peer.id)), None),
                   proposals={}, quiet=[])
    if g.peer.is_organizer:
        context["proposals"] = {a.peer_id: trading.mentor_proposals(members, pairs, a.peer_id, names)
                                for a in context["applicants"]}
        context["quiet"] = mentoring_view.quiet_pairs(engine(), today(), row.id)
    return context


@bp.route("/mentoring/<programme_id>")
@login_required
def mentoring_programme(programme_id: str):
    return render_template("mentoring/programme.html", **programme_context(programme_id), form={}, error=None,
                           failed=None, json=json)


@bp.route("/mentoring/<programme_id>/<action>", methods=["POST"])
@login_required
def mentoring_act(programme_id: str, action: str):
    programme = uuid_or_404(programme_id, "programme")
    form, mentoring_service, me = request.form, services().mentoring, g.peer.id
    try:
        if action == "mentor":
            position = mentoring_service.join_as_mentor(
                programme, me, form.get("skills"), form.get("background"), form.get("languages"),
                form.get("timezone") or g.peer.timezone, forms.parse_int("capacity", form.get("capacity")))
        elif action == "apply":
            position = mentoring_service.apply(programme, me, form.get("goals"), form.get("needs"),
                                               form.get("background"), form.get("languages"),
                                               form.get("timezone") or g.peer.timezone)
        elif action == "pair":
            _, position = mentoring_service.pair(programme, forms.parse_uuid("mentor", form.get("mentor")),
                                                 forms.parse_uuid("mentee", form.get("mentee")), by=me)
        else:
            raise NotFound("no such action")
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        return render_template("mentoring/programme.html", **programme_context(programme_id), form=form,
                               error=error, failed=action, json=json), error.status
    after_command(position)
    return redirect(url_for("trades.mentoring_programme", programme_id=programme_id))


def visible_pair(mentorship_id: str):
    row = mentoring_view.mentorship(engine(), uuid_or_404(mentorship_id, "mentorship"))
    if row is None or not (str(g.peer.id) in (row.mentor_id, row.mentee_id) or g.peer.is_organizer):
        raise NotFound("no such mentorship")
    return row


def pair_page(row, form, error, failed, status=200):
    return render_template("mentoring/pair.html", pair=row,
                           contacts=mentoring_view.contacts(engine(), row.id),
                           names=trades_view.names(engine(), [row.mentor_id, row.mentee_id]), form=form,
                           error=error, failed=failed, today=today(),
                           quiet_days=mentoring_view.QUIET_DAYS), status


@bp.route("/mentoring/pairs/<mentorship_id>")
@login_required
def mentoring_pair(mentorship_id: str):
    return pair_page(visible_pair(mentorship_id), {}, None, None)


@bp.route("/mentoring/pairs/<mentorship_id>/<action>", methods=["POST"])
@login_required
def mentoring_pair_act(mentorship_id: str, action: str):
    row = visible_pair(mentorship_id)
    form, mentoring_service = request.form, services().mentoring
    try:
        if action == "contact":
            position = mentoring_service.log_contact(
                UUID(row.id), forms.parse_date("on", form.get("on")),
                forms.parse_int("minutes", form.get("minutes")),
                form.get("kind"), form.get("note"), by=g.peer.id)
        elif action == "end":
            position = mentoring_service.end(UUID(row.id), form.get("outcome"), form.get("summary"),
                                             by=g.peer.id)
        else:
            raise NotFound("no such action")
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        return pair_page(row, form, error, action, error.status)
    after_command(position)
    return redirect(url_for("trades.mentoring_pair", mentorship_id=row.id))


@bp.route("/mentoring/health")
@organizer_required
def mentoring_health():
    quiet = mentoring_view.quiet_pairs(engine(), today())
    names = trades_view.names(engine(), {p.mentor_id for p in quiet} | {p.mentee_id for p in quiet})
    return render_template("mentoring/health.html", quiet=quiet, names=names, today=today(),
                           quiet_days=mentoring_view.QUIET_DAYS)


# --- JSON API (bearer token) ----------------------------------------------------------------------
API_FIELDS = {"partner": "to", "on": "date"}  # domain field name -> the name this API uses for it


@api_bp.errorhandler(DomainError)
def _api_error(error: DomainError):
    body = {"error": str(error)}
    if error.field:
        body["field"] = API_FIELDS.get(error.field, error.field)
    return jsonify(body), error.status, {"Retry-After": str(error.retry_after)} if error.retry_after else {}


@api_bp.before_request
def _commands_need_a_token():
    if request.method == "POST":
        g.api_viewer, denied = api_caller()
        return denied
    return None


def api_caller():
    header = request.headers.get("Authorization", "").strip()
    scheme, _, token = header.partition(" ")
    peer = security.peer_from_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if peer is None:
        return None, (jsonify({"error": "send Authorization: Bearer <token> (POST /api/v1/tokens)"}), 401,
                      {"WWW-Authenticate": 'Bearer realm="commonroom"'})
    return peer, None


def trade_json(row, viewer) -> dict:
    body = {
        "id": row.id, "proposer_id": row.proposer_id, "partner_id": row.partner_id, "offer": row.offer,
        "want": row.want, "one_sided": not row.offer or not row.want, "status": row.status,
        "awaiting_id": row.awaiting_id if row.status == "proposed" else None, "countered": row.countered,
        "decline_reason": row.decline_reason,
    }
    if trades_view.is_party(row, viewer.id):
        body["notes"] = [{"author_id": n.author_id, "text": n.text, "written_at": n.written_at.isoformat()}
                         for n in trades_view.notes_for(engine(), row, viewer.id)]
    return body


@api_bp.get("")
def api_list():
    viewer, denied = api_caller()
    if denied:
        return denied
    return jsonify({"trades": [trade_json(r, viewer) for r in trades_view.trades_of(engine(), viewer.id)]})


@api_bp.get("/<trade_id>")
def api_show(trade_id: str):
    viewer, denied = api_caller()
    if denied:
        return denied
    return jsonify(trade_detail(visible_trade(trade_id, viewer), viewer))


def trade_detail(row, viewer) -> dict:
    body = trade_json(row, viewer)
    body["sessions"] = [{"number": s.number, "teacher_id": s.teacher_id, "learner_id": s.learner_id,
                         "topic": s.topic, "on": s.on.isoformat(), "minutes": s.minutes, "status": s.status,
                         "replaces": s.replaces or None} for s in trades_view.sessions_of(engine(), row.id)]
    return body


@api_bp.get("/ledger")
def api_ledger():
    viewer, denied = api_caller()
    if denied:
        return denied
    mine = trades_view.ledger(engine(), viewer.id, today())
    return jsonify({"given": mine.given, "received": mine.received, "given_90_days": mine.given_90,
                    "received_90_days": mine.received_90, "given_by_skill": mine.given_by_skill,
                    "received_by_skill": mine.received_by_skill, "per_trade": mine.per_trade,
                    "lopsided": mine.lopsided})


@api_bp.get("/suggestions")
def api_suggestions():
    viewer, denied = api_caller()
    if denied:
        return denied
    pairs = trading.suggestions_for(engine(), viewer.id)
    circles = [] if pairs else trading.circles_for(engine(), viewer.id)
    return jsonify({"pairs": [vars(p) for p in pairs], "circles": [vars(c) for c in circles]})


# --- JSON API commands: parties only (an organizer may read a trade, never act on it) -------------
def party_trade(trade_id: str) -> trades_view.TradeRow:
    row = visible_trade(trade_id, g.api_viewer)
    if not trades_view.is_party(row, g.api_viewer.id):
        raise NotAllowed("only the two people in this trade can do that")
    return row


def answer_trade(trade_id, position: int, status: int = 200):
    """Settle the change, then answer with the trade as the caller now sees it."""
    services().settle(position)
    body = trade_detail(visible_trade(str(trade_id), g.api_viewer), g.api_viewer)
    if status == 201:
        return created(body, url_for("trades_api.api_show", trade_id=str(trade_id)))
    return jsonify(body)


def body_text(body: dict, field: str) -> object:
    """The field as sent; a missing one is empty text, anything not text is refused by the domain."""
    return body.get(field, "")


@api_bp.post("")
def api_offer():
    body = json_body()
    to = forms.parse_uuid("to", body.get("to"))
    with engine().connect() as c:
        partner = c.execute(sa.select(PeerRow.id).where(PeerRow.id == str(to), PeerRow.active.is_(True))).first()
    if partner is None:
        raise InvalidValue("to", "to must be the id of someone registered here")
    trade_id, position = services().trades.propose(
        g.api_viewer.id, to, body_text(body, "offer"), body_text(body, "want"), body_text(body, "message"))
    return answer_trade(trade_id, position, 201)


@api_bp.post("/<trade_id>/accept")
def api_accept(trade_id: str):
    row = party_trade(trade_id)
    return answer_trade(row.id, services().trades.accept(UUID(row.id), by=g.api_viewer.id))


@api_bp.post("/<trade_id>/decline")
def api_decline(trade_id: str):
    row = party_trade(trade_id)
    reason = body_text(json_body(required=False), "reason")
    return answer_trade(row.id, services().trades.decline(UUID(row.id), reason, by=g.api_viewer.id))


@api_bp.post("/<trade_id>/withdraw")
def api_withdraw(trade_id: str):
    row = party_trade(trade_id)
    return answer_trade(row.id, services().trades.withdraw(UUID(row.id), by=g.api_viewer.id))


@api_bp.post("/<trade_id>/counter")
def api_counter(trade_id: str):
    row = party_trade(trade_id)
    want = body_text(json_body(), "want")
    return answer_trade(row.id, services().trades.counter(UUID(row.id), want, by=g.api_viewer.id))


@api_bp.post("/<trade_id>/sessions")
def api_log_session(trade_id: str):
    row = party_trade(trade_id)
    body = json_body()
    teacher_id = forms.parse_uuid("teacher", body.get("teacher"))
    learner_id = forms.parse_uuid("learner", body.get("learner"))
    if teacher_id == learner_id or str(learner_id) not in (row.proposer_id, row.partner_id):
        raise InvalidValue("learner", "the learner must be the other person in the trade")
    position = services().trades.log_session(UUID(row.id), teacher_id, body.get("topic"),
                                             json_date("date", body.get("date")), body.get("minutes"),
                                             by=g.api_viewer.id)
    return answer_trade(row.id, position, 201)


def session_of(row, session_id: str) -> str:
    if session_id not in {s.number for s in trades_view.sessions_of(engine(), row.id)}:
        raise NotFound("no such session")
    return session_id


@api_bp.post("/<trade_id>/sessions/<session_id>/confirm")
def api_confirm_session(trade_id: str, session_id: str):
    row = party_trade(trade_id)
    number = session_of(row, session_id)
    return answer_trade(row.id, services().trades.confirm_session(UUID(row.id), number, by=g.api_viewer.id))


@api_bp.post("/<trade_id>/sessions/<session_id>/dispute")
def api_dispute_session(trade_id: str, session_id: str):
    row = party_trade(trade_id)
    number = session_of(row, session_id)
    reason = body_text(json_body(required=False), "reason")
    return answer_trade(row.id, services().trades.dispute_session(UUID(row.id), number, reason,
                                                                  by=g.api_viewer.id))


@api_bp.post("/<trade_id>/notes")
def api_add_note(trade_id: str):
    row = party_trade(trade_id)
    note = body_text(json_body(), "note")
    return answer_trade(row.id, services().trades.add_note(UUID(row.id), note, by=g.api_viewer.id), 201)
