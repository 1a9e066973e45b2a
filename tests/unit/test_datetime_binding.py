"""The SQLite datetime bind conversion remembers what it converted; it must never mix two values up."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from commonroom.projections import base
from commonroom.projections.base import _DATETIME_TEXT, _DATETIME_TEXTS, _sqlite_datetime, remembering_datetimes


def plain(value: datetime, to_utc: bool) -> str:
    if to_utc and value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.isoformat(" ", "microseconds")[:26]


@pytest.mark.parametrize("to_utc", [True, False])
def test_remembered_conversions_equal_fresh_ones_for_look_alike_values(to_utc):
    convert = _sqlite_datetime(lambda v: f"fallback {v}", to_utc=to_utc)
    london = ZoneInfo("Europe/London")
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    ambiguous = datetime(2026, 10, 25, 1, 30, tzinfo=london)  # the clocks go back: this hour twice
    values = [
        noon, noon.astimezone(timezone(timedelta(hours=2))),  # one instant, two wall times
        noon.replace(tzinfo=None),  # naive (already UTC for to_utc columns)
        ambiguous, ambiguous.replace(fold=1),  # one wall time, two instants
    ]
    for _ in range(2):  # the second round is answered from memory
        assert [convert(v) for v in values] == [plain(v, to_utc) for v in values]
    assert convert(None) is None and convert("x") == "fallback x"
    assert plain(ambiguous, True) != plain(ambiguous.replace(fold=1), True)


def test_memory_is_bounded():
    convert = _sqlite_datetime(str)
    start = datetime(2026, 1, 1)
    for i in range(_DATETIME_TEXTS + 1000):
        moment = start + timedelta(seconds=i)
        assert convert(moment) == plain(moment, False)
    assert 0 < len(_DATETIME_TEXT[False]) <= _DATETIME_TEXTS


def test_a_replay_may_remember_more_for_a_while_then_the_usual_bound_holds_again():
    convert = _sqlite_datetime(str)
    start = datetime(2025, 1, 1)
    moments = [start + timedelta(seconds=i) for i in range(_DATETIME_TEXTS + 1000)]
    _DATETIME_TEXT[False].clear()  # (what earlier tests left)
    with remembering_datetimes(len(moments)):
        assert [convert(m) for m in moments] == [plain(m, False) for m in moments]
        assert len(_DATETIME_TEXT[False]) >= len(moments)  # nothing forgotten while it lasted
        assert [convert(m) for m in moments[:10]] == [plain(m, False) for m in moments[:10]]
    assert base._DATETIME_TEXTS == _DATETIME_TEXTS
    assert len(_DATETIME_TEXT[False]) <= _DATETIME_TEXTS
    assert convert(moments[-1]) == plain(moments[-1], False)


def test_columns_that_move_to_utc_and_columns_that_do_not_share_the_memory_without_mixing():
    to_utc, as_is = _sqlite_datetime(str, to_utc=True), _sqlite_datetime(str)
    moment = datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Europe/London"))  # 11:00 UTC
    for _ in range(2):
        assert (to_utc(moment), as_is(moment)) == ("2026-06-01 11:00:00.000000", "2026-06-01 12:00:00.000000")
