"""Export the event log as JSON lines and import it into a fresh store: the same history, the
same read models, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

from commonroom.platform.backup import ImportRefused, export_events, import_events
from commonroom.platform.bootstrap import bootstrap
from commonroom.platform.demo import seed_demo
from commonroom.projections.base import Base, Tracking


def read_models(app) -> dict[str, list[tuple]]:
    """Every read-model table's rows in a stable order: the tracking table aside, and without
    surrogate autoincrement keys (PostgreSQL sequences are not transactional, so those numbers
    are not part of what the events determine)."""
    app.projector.catch_up()
    with app.engine.connect() as c:
        return {table.name: sorted((tuple(row) for row in c.execute(sa.select(
                    *[col for col in table.columns if col is not table.autoincrement_column]))), key=repr)
                for table in Base.metadata.sorted_tables if table.name != Tracking.__tablename__}


def a_small_history(url: str) -> tuple[str, dict, int]:
    """A short demo seeded at ``url``: its export, its read models and its event count."""
    app = bootstrap(url)
    try:
        seed_demo(app, peers=10, seed=2, weeks_back=3, weeks_ahead=1)
        exported = io.StringIO()
        count = export_events(app, exported, page_size=97)  # several pages, the last one short
        return exported.getvalue(), read_models(app), count
    finally:
        app.close()


def empty_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY")


@pytest.fixture(scope="module")
def sqlite_history(tmp_path_factory) -> tuple[str, dict, int]:
    return a_small_history(f"sqlite:///{tmp_path_factory.mktemp('history')}/history.sqlite3")


def test_an_export_has_one_json_object_per_stored_event_in_order(sqlite_history):
    exported, _, count = sqlite_history
    records = [json.loads(line) for line in exported.splitlines()]
    assert len(records) == count > 100
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    assert {"id", "originator_id", "originator_version", "topic", "state"} <= set(records[0])
    assert records[0]["topic"].startswith("commonroom.domain.") and json.loads(records[0]["state"])


def assert_import_rebuilds(url: str, exported: str, before: dict, count: int) -> None:
    app = bootstrap(url)
    try:
        imported = import_events(app, io.StringIO(exported), batch_size=100)
        # then every event is back, in order, and the read models are the same, row for row
        assert imported == count == app.store.max_notification_id()
        assert read_models(app) == before
        assert all(status.lag == 0 for status in app.projector.status())
        again = io.StringIO()
        export_events(app, again)
        assert again.getvalue() == exported
    finally:
        app.close()


def test_importing_an_export_into_a_fresh_sqlite_store_rebuilds_identical_read_models(
        sqlite_history, tmp_path):
    # given a history on SQLite, exported; when it is imported into a fresh SQLite store
    assert_import_rebuilds(f"sqlite:///{tmp_path}/fresh.sqlite3", *sqlite_history)


@pytest.mark.postgres
def test_importing_an_export_into_a_fresh_postgres_store_rebuilds_identical_read_models(pg_url):
    # given a history on PostgreSQL, exported
    exported, before, count = a_small_history(pg_url)
    # when the database is emptied and the export imported into it
    empty_postgres(pg_url)
    assert_import_rebuilds(pg_url, exported, before, count)


@pytest.mark.postgres
def test_an_export_from_sqlite_imports_into_postgres(sqlite_history, pg_url):
    exported, before, count = sqlite_history
    app = bootstrap(pg_url)
    try:
        assert import_events(app, io.StringIO(exported)) == count
        after = read_models(app)
        assert {name: len(rows) for name, rows in after.items()} == {
            name: len(rows) for name, rows in before.items()}
    finally:
        app.close()


def test_an_import_into_a_store_that_has_events_is_refused(services):
    # given a store with one registration in it
    services.people.register("Ada Lovelace", "ada@example.org", "Audit", "correct horse")
    head = services.store.max_notification_id()
    line = json.dumps({"id": 1, "originator_id": "00000000-0000-0000-0000-000000000001",
                       "originator_version": 1, "topic": "x:y", "state": "{}"})
    # when an export is imported into it, then it is refused and nothing is written
    with pytest.raises(ImportRefused, match="already holds"):
        import_events(services, io.StringIO(line + "\n"))
    assert services.store.max_notification_id() == head


def test_an_export_with_a_bad_line_is_refused_by_line_number_before_anything_is_written(sqlite_url):
    app = bootstrap(sqlite_url)
    good = json.dumps({"id": 1, "originator_id": "00000000-0000-0000-0000-000000000001",
                       "originator_version": 1, "topic": "x:y", "state": "{}"})
    try:
        with pytest.raises(ValueError, match="line 2"):
            import_events(app, io.StringIO(good + "\n{not json\n"), batch_size=1)
        assert app.store.max_notification_id() == 0
    finally:
        app.close()
