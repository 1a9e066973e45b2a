"""A new version of the code whose views have other tables than the views file holds: ``bootstrap``
rebuilds those views (and only those) from the events, and fixes indexes in place."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from commonroom.platform.bootstrap import bootstrap
from commonroom.platform.directory import talks_as_of
from commonroom.projections.base import Tracking
from test_batched_views_all import every_table
from test_projections import a_history_with_every_event


def positions(services) -> dict[str, int]:
    with services.projector.read_engine.connect() as c:
        return dict(c.execute(sa.select(Tracking.name, Tracking.position)).all())


def indexes_on(services, table: str) -> set[tuple]:
    with services.projector.read_engine.connect() as c:
        return {(tuple(i["column_names"]), bool(i["unique"])) for i in sa.inspect(c).get_indexes(table)
                if not i.get("duplicates_constraint")}


@contextmanager
def started(database_url: str, clock):
    """This version of the code started on the database, as a deployment starts it; stopped after."""
    services = bootstrap(database_url, clock=clock)
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def projected(database_url, clock):
    """A database whose views were projected live, closed again (as a deployment is stopped)."""
    with started(database_url, clock) as services:
        a_history_with_every_event(services, clock)
        rows, tracked = every_table(services), positions(services)
    return database_url, rows, tracked


def altered(database_url: str, clock, *statements: str) -> None:
    with started(database_url, clock) as services:
        with services.projector.engine.begin() as c:
            for sql in statements:
                c.exec_driver_sql(sql)


@pytest.mark.parametrize("change", ["a column less", "a column more", "a table missing"])
def test_a_view_whose_tables_changed_is_rebuilt_when_the_app_starts(projected, clock, change, caplog):
    database_url, rows, tracked = projected
    # given a views file whose people tables were made by another version of the code
    altered(database_url, clock, *{
        "a column less": ['ALTER TABLE peers DROP COLUMN timezone'],
        "a column more": ["ALTER TABLE peer_skills ADD COLUMN retired_flag INTEGER DEFAULT 0"],
        "a table missing": ['DROP TABLE peer_skills'],
    }[change])
    # when this version starts on it
    with started(database_url, clock) as services:
        # then the people view was rebuilt from the events, with the model's tables, and says so;
        # every row is the one live projection made, and no other view was replayed
        assert "peopl" in caplog.text and "rebuilding" in caplog.text
        assert every_table(services) == rows
        assert positions(services) == tracked


def test_an_index_that_changed_is_made_or_dropped_without_a_rebuild(projected, clock, caplog):
    database_url, rows, tracked = projected
    # given a views file with an index the models do not have and without one they have
    altered(database_url, clock, "CREATE INDEX ix_signups_extra ON signups (status)",
            "DROP INDEX ix_signups_peer_id")
    # when this version starts on it
    with started(database_url, clock) as services:
        # then the signups table has exactly the model's indexes, and nothing was rebuilt
        assert indexes_on(services, "signups") == {(("peer_id",), False)}
        assert "rebuilding" not in caplog.text
        assert every_table(services) == rows and positions(services) == tracked


def test_a_views_file_as_this_version_makes_it_is_left_alone(projected, clock, caplog):
    database_url, rows, tracked = projected
    with started(database_url, clock) as services:
        assert "rebuilding" not in caplog.text
        assert every_table(services) == rows and positions(services) == tracked


def test_a_views_file_whose_talk_versions_held_the_seats_gets_the_seat_changes(projected, clock, caplog):
    database_url, rows, tracked = projected
    # given a views file made before seat changes had a table of their own: every sign-up event
    # copied the talk's version with its counts in two more columns
    altered(database_url, clock, "ALTER TABLE talk_versions ADD COLUMN confirmed INTEGER DEFAULT 0",
            "ALTER TABLE talk_versions ADD COLUMN waitlisted INTEGER DEFAULT 0", "DROP TABLE talk_seat_changes")
    # when this version starts on it
    with started(database_url, clock) as services:
        # then the expertise view was rebuilt: the seat changes are back, and the schedule as of
        # now shows the seats live projection gave
        assert "expertise" in caplog.text and "rebuilding" in caplog.text
        assert every_table(services) == rows and positions(services) == tracked
        assert rows["talk_seat_changes"]
        assert any(t.confirmed for t in talks_as_of(services.engine, None))
