"""Liveness and readiness endpoints."""


def test_liveness_answers_without_touching_the_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readiness_reports_database_and_projection_lag(client, auth):
    auth.register()
    client.get("/")  # the page after the form: read-your-writes settles the views
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready" and body["database"] == "up"
    assert set(body["lag"]) >= {"people", "schedule", "attendance", "notifications"}
    assert all(lag == 0 for lag in body["lag"].values())


def test_readiness_fails_when_views_lag_behind(app, client, auth):
    # Given a worker that does not project inline, no projection worker, and a new event
    auth.register()
    app.config["READY_MAX_LAG"] = 0
    services = app.extensions["commonroom"]
    services.inline_projections = False
    services.people.register("Bob", "bob@example.org", "Tax", "long enough")
    # When readiness is asked before any projection ran
    response = client.get("/readyz")
    # Then it says how far behind each view is
    assert response.status_code == 503
    assert response.get_json()["status"] == "lagging"
