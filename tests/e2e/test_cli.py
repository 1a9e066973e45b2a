"""The ``commonroom`` command line, run against the test app."""

from __future__ import annotations

import json

from commonroom.platform.cli import main
from commonroom.platform.services import SYSTEM_ACTOR


def register(app, name="Ada Lovelace", email="ada@example.org"):
    services = app.extensions["commonroom"]
    registered = services.people.register(name, email, "Audit", "correct horse", "Europe/London")
    services.settle()
    return registered.peer_id


def test_projections_status_lists_every_view_caught_up(app, runner):
    # given one registration, read into the views
    register(app)
    # when the status is asked for
    result = runner.invoke(main, ["projections", "status"])
    # then every view is at the head of the log, with no lag
    assert result.exit_code == 0, result.output
    views = [line.split() for line in result.output.splitlines()[1:]]
    names = {v.name for v in app.extensions["commonroom"].projector.views}
    assert {row[0] for row in views} == names
    head = app.extensions["commonroom"].store.max_notification_id()
    assert all(row[1:] == [str(head), str(head), "0"] for row in views)


def test_projections_rebuild_reports_how_many_events_and_how_fast(app, runner):
    register(app)
    result = runner.invoke(main, ["projections", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt all views: 2 events in" in result.output and "events/s" in result.output


def test_grant_organizer_makes_the_peer_an_organizer(app, runner):
    peer_id = register(app)
    result = runner.invoke(main, ["peers", "grant-organizer", "Ada@Example.org"])
    assert result.exit_code == 0 and "Ada@Example.org is now an organizer" in result.output
    assert app.extensions["commonroom"].people.is_organizer(peer_id)
    # recorded as the operator's act, not as the peer making themself an organizer
    [granted] = [e for e in app.extensions["commonroom"].store.events.get(peer_id)
                 if type(e).__name__ == "OrganizerGranted"]
    assert granted.by == SYSTEM_ACTOR


def test_grant_organizer_for_an_unknown_email_fails_with_a_message(runner):
    result = runner.invoke(main, ["peers", "grant-organizer", "nobody@example.org"])
    assert result.exit_code == 1 and "no peer registered with nobody@example.org" in result.output


def test_events_export_to_stdout_writes_one_json_line_per_event(app, runner):
    register(app)
    result = runner.invoke(main, ["events", "export", "-"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == [1, 2]
    assert "exported 2 events" in result.stderr


def test_events_import_into_a_store_with_events_exits_with_1_and_says_why(app, runner, tmp_path):
    # given an export of a store, and that store still holding its events
    register(app)
    export = tmp_path / "events.jsonl"
    assert runner.invoke(main, ["events", "export", str(export)]).exit_code == 0
    # when it is imported back into the same, non-empty store
    result = runner.invoke(main, ["events", "import", str(export)])
    # then it is refused
    assert result.exit_code == 1
    assert "already holds 2 events; import only into an empty store" in result.output
    assert app.extensions["commonroom"].store.max_notification_id() == 2


def test_events_import_from_stdin_fills_an_empty_store_and_its_views(app, runner, tmp_path):
    # given an export made elsewhere
    from commonroom.platform.bootstrap import bootstrap

    other = bootstrap(f"sqlite:///{tmp_path}/other.sqlite3")
    try:
        other.people.register("Grace Hopper", "grace@example.org", "IT", "correct horse")
    finally:
        other.close()
    other_app = _script_info(f"sqlite:///{tmp_path}/other.sqlite3")
    exported = runner.invoke(main, ["events", "export", "-"], obj=other_app)
    # when it is piped into this empty store
    result = runner.invoke(main, ["events", "import", "-"], input=exported.stdout)
    # then the events and the read models are here
    assert result.exit_code == 0, result.output
    assert "imported 2 events" in result.stdout
    assert app.extensions["commonroom"].people.peer_id_for_email("grace@example.org") is not None
    assert "grace@example.org" in app.extensions["commonroom"].engine.connect().exec_driver_sql(
        "SELECT email FROM peers").scalar_one()


def _script_info(url: str):
    from flask.cli import ScriptInfo

    from commonroom.platform.app import create_app

    return ScriptInfo(create_app=lambda: create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "x", "FOLLOW": False}))
