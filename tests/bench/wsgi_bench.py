"""The product's WSGI app plus a bare endpoint, served by the same gunicorn workers as the ceiling.

``gunicorn --pythonpath tests/bench wsgi_bench:app``. Bench-only: the product never sees these routes.
"""

from flask import jsonify

from commonroom.platform.app import create_app

app = create_app()


@app.route("/bench/bare")
def bench_bare():
    return "ok"


@app.route("/bench/routes")
def bench_routes():
    """Lets the bench find routes that other engineers are still writing (sign-up, directory)."""
    return jsonify([{"rule": r.rule, "endpoint": r.endpoint, "methods": sorted(r.methods or [])}
                    for r in app.url_map.iter_rules()])
