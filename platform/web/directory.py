"""Who knows what: the directory, peer profiles, endorsements, the graph, audit trails.

Every read page takes ``?as_of=YYYY-MM-DD`` and shows the state at the end of that day (UTC).
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote
from uuid import UUID

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from commonroom.domain.errors import DomainError, InvalidValue
from commonroom.domain.skills import HALF_LIFE_DAYS
from commonroom.platform import directory as d
from commonroom.platform.web.consistency import after_command
from commonroom.platform.web.security import login_required, organizer_required

bp = Blueprint("directory", __name__)


def services():
    return current_app.extensions["commonroom"]


def as_of_arg() -> date | None:
    return d.parse_as_of(request.args.get("as_of"))


def peer_id_or_404(peer_id: str) -> str:
    try:
        return str(UUID(peer_id))
    except ValueError:
        abort(404, "there is no such person")


# --- the directory --------------------------------------------------------------------------------
# A popular skill has hundreds of knowers: the page shows them a page at a time (?page=N), best
# first, and the first few dozen who want to learn it with a count of the rest.
RANKED_PER_PAGE = 25
WANTERS_SHOWN = 40


@bp.app_template_global()
def profile_url(peer_id: object) -> str:
    """``url_for("directory.profile", peer_id=...)`` for the many links of one page (the graph
    page links every person, often more than a thousand times): the route's prefix is built once
    per request, then each link is the prefix plus the quoted id (timeit in a request context:
    4.6 us a link against 11.7 us for ``url_for``)."""
    prefix = g.get("profile_url_prefix")
    if prefix is None:
        prefix = g.profile_url_prefix = url_for("directory.profile", peer_id="-")[:-1]
    return prefix + quote(str(peer_id), safe="")


@bp.route("/directory")
def index():
    return render_directory(error=None, status=200)


@d.one_reading()  # the views' positions read once for the whole page
def render_directory(error: DomainError | None, status: int):
    engine = services().engine
    as_of = as_of_arg()
    at = d.moment(as_of)
    query = request.args.get("q", "").strip()[:60]
    department = request.args.get("department", "").strip() or None
    mode = "wants" if request.args.get("mode") == "wants" else "knows"
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1  # a bad page number shows the first
    overview = d.skill_overview(engine, at)
    results = []
    if query:
        for key in d.find_skills(engine, query, at):
            results.append({
                "key": key,
                "label": next((o.label for o in overview if o.key == key), key),
                "ranked": d.rank(engine, key, at, department) if mode == "knows" else [],
                "wanters": d.wanters(engine, key, at, department),
            })
    return render_template(
        "directory/index.html", query=query, department=department, mode=mode, as_of=as_of,
        results=results, page=page, per_page=RANKED_PER_PAGE, wanters_shown=WANTERS_SHOWN,
        overview=overview[:30], ideas=d.talk_ideas(overview), half_life=HALF_LIFE_DAYS,
        departments=d.departments(engine, at), error=error, form=request.form,
    ), status


@bp.route("/directory/aliases", methods=["POST"])
@organizer_required
def merge_alias():
    try:
        position = services().directory.merge_alias(request.form.get("alias", ""), request.form.get("into", ""),
                                                    by=g.peer.id)
    except DomainError as error:
        return render_directory(error=error, status=error.status)
    after_command(position)
    flash(f"\u201c{request.form['alias']}\u201d now counts as \u201c{request.form['into']}\u201d.")
    return redirect(url_for("directory.index", q=request.form["into"]), 303)


# --- people ----------------------------------------------------------------------------------------
@bp.route("/people/<peer_id>")
def profile(peer_id: str):
    return render_profile(peer_id_or_404(peer_id), error=None, status=200)


@d.one_reading()  # the views' positions read once for the whole page
def render_profile(peer_id: str, error: DomainError | None, status: int):
    engine = services().engine
    as_of = as_of_arg()
    found = d.profile(engine, peer_id, d.moment(as_of))
    if found is None:
        abort(404, "there is no such person" + (" on that date" if as_of else ""))
    viewer = g.get("peer")
    can_endorse = (as_of is None and viewer is not None and d.can_endorse(engine, viewer.id, peer_id))
    return render_template("directory/profile.html", p=found, as_of=as_of, can_endorse=can_endorse,
                           error=error, form=request.form), status


@bp.route("/people/<peer_id>/endorse", methods=["POST"])
@login_required
def endorse(peer_id: str):
    peer_id = peer_id_or_404(peer_id)
    try:
        position = services().directory.endorse(g.peer.id, UUID(peer_id), request.form.get("skill", ""),
                                                request.form.get("sentence", ""))
    except DomainError as error:
        return render_profile(peer_id, error=error, status=error.status)
    after_command(position)
    flash("Thank you: your endorsement is on their profile.")
    return redirect(url_for("directory.profile", peer_id=peer_id), 303)


@bp.route("/people/<peer_id>/history")
@login_required
def peer_history(peer_id: str):
    subject = UUID(peer_id_or_404(peer_id))
    entries = d.history(services().store, services().engine, subject)
    if not entries or entries[0].stream != "Peer":
        abort(404, "there is no such person")
    if subject != g.peer.id and not g.peer.is_organizer:
        abort(403, "a person's audit trail is for them and the organizers")
    return render_template("directory/history.html", entries=entries, subject="person",
                           back=url_for("directory.profile", peer_id=peer_id))


@bp.route("/talks/<talk_id>/history")
@login_required
def talk_history(talk_id: str):
    try:
        entries = d.history(services().store, services().engine, UUID(talk_id))
    except ValueError:
        entries = []
    if not entries or entries[0].stream != "Talk":
        abort(404, "there is no such talk")
    speaker = str(entries[0].details.get("speaker_id", ""))  # from the talk's first event
    if speaker != str(g.peer.id) and not g.peer.is_organizer:
        abort(403, "a talk's audit trail (who signed up, who came) is for its speaker and the organizers")
    return render_template("directory/history.html", entries=entries, subject="talk",
                           back=url_for("talks.show", talk_id=talk_id))


# --- the graph --------------------------------------------------------------------------------------
# The graph page in words, for an organisation of thousands: the strongest links, the first
# members of each community and the first people not yet connected, each with a count of the rest
# (the JSON export has everything; the topic and department filters narrow the links). Listing all
# of them made the page 1.5 MB and 120 ms on the bench's 1M-event history (21,001 people).
GRAPH_LINKS_SHOWN = 100
GRAPH_MEMBERS_SHOWN = 30
GRAPH_ISOLATED_SHOWN = 60
# The drawing (static/graph.js) of a graph of more people or links than these: the heaviest
# GRAPH_DRAWN_LINKS links and the people on them, fetched as such (``/graph.json?strongest=N``; a
# drawing of thousands of people was not tried: it would be unreadable, and the layout's work
# grows faster than the people).
GRAPH_DRAWN_NODES = 300
GRAPH_DRAWN_LINKS = 400


@bp.route("/graph")
@d.one_reading()
def graph_page():
    engine = services().engine
    timeline = d.months(engine, services().clock.now().date())
    as_of = as_of_arg() or timeline_step(timeline)
    at = d.moment(as_of)
    topic = request.args.get("topic", "").strip()[:60] or None
    department = request.args.get("department", "").strip() or None
    shown = d.graph(engine, at, topic, department)
    analysis = services().directory.analytics.get(at)
    strongest = heaviest(shown.edges, GRAPH_LINKS_SHOWN)
    json_args = {"as_of": as_of.isoformat() if as_of else None, "topic": topic, "department": department}
    # the drawing fetches only what it draws of a large graph (not every person: 3 MB at 21,001)
    large = len(shown.nodes) > GRAPH_DRAWN_NODES or len(shown.edges) > GRAPH_DRAWN_LINKS
    drawn = {"strongest": GRAPH_DRAWN_LINKS} if large else {}
    return render_template(
        "directory/graph.html", graph=shown, strongest=strongest, analysis=analysis, as_of=as_of,
        topic=topic, department=department, departments=d.departments(engine, at), timeline=timeline,
        names=shown.by_id, skills=d.skill_overview(engine, at),
        members_shown=GRAPH_MEMBERS_SHOWN, isolated_shown=GRAPH_ISOLATED_SHOWN,
        json_url=url_for("directory.graph_json", **json_args),
        drawing_src=url_for("directory.graph_json", **json_args, **drawn),
    )


def timeline_step(timeline: list[date]) -> date | None:
    """The slider posts ``step`` (a month's index on the timeline), so it works without JavaScript."""
    step = request.args.get("step")
    if step is None or not timeline:
        return None
    try:
        return timeline[min(max(int(step), 0), len(timeline) - 1)]
    except ValueError:
        raise InvalidValue("step", "step must be a month's number on the timeline") from None


@bp.route("/graph.json")
@d.one_reading()
def graph_json():
    """Every person and link of the graph (as of, by topic, by department); ``?strongest=N``: only
    the N heaviest links and the people on them, as the page's drawing asks for a large graph. ``people`` and ``links`` count the whole graph either way."""
    as_of = as_of_arg()
    strongest = strongest_arg()
    shown = d.graph(services().engine, d.moment(as_of), request.args.get("topic") or None,
                    request.args.get("department") or None)
    nodes, edges = shown.nodes, shown.edges
    if strongest is not None:
        edges = heaviest(edges, strongest)
        on = {end for e in edges for end in (e["teacher"], e["learner"])}
        nodes = [p for p in nodes if p.id in on]
    return jsonify({
        "as_of": as_of.isoformat() if as_of else None,
        "people": len(shown.nodes), "links": len(shown.edges),
        "nodes": [{"id": p.id, "name": p.name, "department": p.department,
                   "url": profile_url(p.id)} for p in nodes],
        "edges": [{"source": e["teacher"], "target": e["learner"], "weight": e["weight"], "topics": e["topics"]}
                  for e in edges],
    })


def heaviest(edges: list[dict], n: int) -> list[dict]:
    """The ``n`` links of most weight, heaviest first (ties in the graph's order)."""
    return sorted(edges, key=lambda e: e["weight"], reverse=True)[:n]


def strongest_arg() -> int | None:
    value = request.args.get("strongest")
    if value is None or value == "":
        return None
    if not value.strip().isdigit():
        raise InvalidValue("strongest", "strongest must be a whole number of links (0 or more)")
    return int(value)
