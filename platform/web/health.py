"""Health endpoints for load balancers and orchestrators.

``/healthz``: the process is alive (no I/O). ``/readyz``: the database answers and every read
model is within ``READY_MAX_LAG`` events of the log's head (503 with the figures otherwise).
"""

from __future__ import annotations

import os

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.route("/readyz")
def readyz():
    services = current_app.extensions["commonroom"]
    max_lag = int(current_app.config.get("READY_MAX_LAG", 1000))
    try:
        views = services.projector.status()
    except Exception as error:  # noqa: BLE001 - any database failure means "not ready"
        return jsonify({"status": "unavailable", "database": "down", "error": type(error).__name__}), 503, {
            "Retry-After": "2"}
    lag = {v.name: v.lag for v in views}
    ready = all(value <= max_lag for value in lag.values())
    body = {"status": "ready" if ready else "lagging", "database": "up",
            "head": views[0].head if views else 0, "lag": lag,
            # this worker process's own counters (each gunicorn worker answers for itself)
            "process": {"pid": os.getpid(), "commands": services.stats.commands,
                        "conflicts_retried": services.stats.conflicts_retried,
                        "stale_retried": services.stats.stale_retried,
                        "group_commit": services.store.group_commit.stats.as_dict()}}
    return jsonify(body), 200 if ready else 503
