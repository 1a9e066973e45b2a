"""Statements run straight on the DB-API cursor (``base.Runnable``): values go in and come back as
SQLAlchemy's own ``execute`` would convert them, on SQLite and PostgreSQL, and driver errors are
raised as SQLAlchemy's (which the app answers with a 503, never a 500)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from commonroom.projections.attendance import SignUpRow
from commonroom.projections.base import Rows, runnable, one_of
from commonroom.projections.expertise import TalkVersionRow
from commonroom.projections.schedule import ProgrammeRow, TalkRow, WeekdaysRow

NOW = datetime(2026, 12, 2, 12, 30, 15, 123456, tzinfo=timezone.utc)


def a_talk_row(**changes) -> dict:
    values = dict(id="t1", speaker_id="s1", title="Bayesian coffee", abstract="", topics="stats", status="scheduled",
                  day=date(2026, 12, 3), room_id="blue", starts_at=NOW, ends_at=NOW + timedelta(minutes=30),
                  capacity=5, confirmed=1, waitlisted=0, sequence=0, cancel_reason="", proposed_at=NOW,
                  updated_at=NOW)
    return values | changes


def test_rows_read_through_the_driver_equal_what_sqlalchemy_reads(services):
    # given rows of every column type the views use, written through the batch interface
    with services.projector.engine.begin() as c:
        rows = Rows(c)
        rows.put(TalkRow, **a_talk_row())
        rows.put(TalkRow, **a_talk_row(id="t2", day=None, starts_at=None, ends_at=None))
        rows.put(ProgrammeRow, id=1, name="Mini-scule", timezone="Europe/London", lunch_start=time(12, 0),
                 lunch_minutes=30)
        rows.put(WeekdaysRow, effective_from=date(2026, 1, 5), weekdays="0,2")
        rows.add(SignUpRow, talk_id="t1", peer_id="p1", status="confirmed", position=None, attended=True,
                 rating=None, comment="", signed_up_at=NOW, updated_at=NOW)
        rows.add(TalkVersionRow, talk_id="t1", speaker_id="s1", title="x", topics="stats", status="scheduled",
                 day=date(2026, 12, 3), room_id="blue", starts_at=NOW, capacity=5,
                 valid_from=NOW, valid_to=None)
        rows.flush()
    # when a new batch reads them back through the driver
    with services.projector.engine.begin() as c:
        rows = Rows(c)
        read = {model: [vars(rows.get(model, key)) for key in keys] for model, keys in (
            (TalkRow, ["t1", "t2"]), (ProgrammeRow, [1]), (WeekdaysRow, [date(2026, 1, 5)]),
            (SignUpRow, [("t1", "p1")]))}
        versions = [vars(v) for v in rows.find(TalkVersionRow, "talk_id", "t1", valid_to=None)]
    # then every value is what SQLAlchemy's execute gives for the same rows, type for type
    with services.engine.connect() as c:
        expected = {model: [dict(r._mapping) for r in c.execute(sa.select(model.__table__).order_by(
            *model.__table__.primary_key.columns))] for model in read}
        expected_versions = [dict(r._mapping) for r in c.execute(sa.select(TalkVersionRow.__table__))]
    assert read == expected
    assert versions == expected_versions
    assert read[TalkRow][0]["starts_at"] == NOW and read[TalkRow][0]["starts_at"].tzinfo is not None  # UTCDateTime
    assert type(versions[0]["starts_at"]) is datetime
    assert read[SignUpRow][0]["attended"] is True and read[TalkRow][0]["day"] == date(2026, 12, 3)


def test_a_driver_error_is_raised_as_sqlalchemys(services):
    # given a statement on a table that is not there
    statement = sa.select(sa.table("no_such_table", sa.column("x")))
    with services.projector.engine.connect() as c:
        # when it runs on the driver's cursor
        with pytest.raises(sa.exc.DBAPIError) as raised:
            runnable(statement, c.dialect).rows(c)
    # then the error is SQLAlchemy's, naming the statement
    assert "no_such_table" in str(raised.value)


def test_values_listed_for_in_are_bound_one_by_one(services):
    # given two talks
    with services.projector.engine.begin() as c:
        rows = Rows(c)
        rows.put(TalkRow, **a_talk_row())
        rows.put(TalkRow, **a_talk_row(id="t2"))
        rows.flush()
    table = TalkRow.__table__
    # when a statement asks for some of them by a list of ids fixed when it was built
    with services.engine.connect() as c:
        found = runnable(sa.select(table.c.id).where(one_of(table.c.id, ["t2", "t3"])), c.dialect).rows(c)
    # then it finds exactly those
    assert [tuple(r) for r in found] == [("t2",)]
