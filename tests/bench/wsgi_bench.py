"""The product's WSGI app plus a bare endpoint, served by the same gunicorn workers as the ceiling.

``gunicorn --pythonpath tests/bench wsgi_bench:app``. Bench-only: the product never sees these routes.
The app is the one ``commonroom serve --workers`` serves (``commonroom.platform.wsgi``), logging
included (a JSON line a request, to the bench server's log file), so the figures carry that cost.
"""

from flask import flash, jsonify, redirect, url_for

from commonroom.platform.web.security import login_required
from commonroom.platform.wsgi import app


@app.route("/bench/bare")
def bench_bare():
    return "ok"


@app.route("/bench/session-post/<talk_id>", methods=["POST"])
@login_required
def bench_session_post(talk_id: str):
    """The sign-up POST without its command, the second ceiling: the same hooks (session cookie
    read and re-signed, CSRF check, signed-in peer read from the people view, request log), the
    same flash and redirect; no event, no projection."""
    flash("You are signed up.")
    return redirect(url_for("talks.show", talk_id=talk_id), 303)


@app.route("/bench/routes")
def bench_routes():
    """Lets the bench find routes that other engineers are still writing (sign-up, directory)."""
    return jsonify([{"rule": r.rule, "endpoint": r.endpoint, "methods": sorted(r.methods or [])}
                    for r in app.url_map.iter_rules()])
