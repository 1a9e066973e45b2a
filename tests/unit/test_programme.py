"""Programme (weekdays over time, days off, rooms, capacity, slot checks) and LunchDay, in memory."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from commonroom.domain.errors import InvalidValue, NotFound
from commonroom.domain.lunchday import LunchDay, SlotTaken, SpeakerBusy, lunch_day_id
from commonroom.domain.programme import PROGRAMME_ID, Programme, SlotUnavailable, check_capacity

ORGANIZER = uuid4()
MONDAY = date(2026, 1, 5)


def a_programme() -> Programme:
    return Programme(name="Mini-scule", timezone="Europe/London", lunch_start=time(12, 0), lunch_minutes=30,
                     by=ORGANIZER)


def test_the_programme_is_a_singleton_with_a_fixed_id():
    assert a_programme().id == PROGRAMME_ID == Programme.create_id()


def test_a_programme_runs_on_no_day_until_weekdays_are_chosen():
    programme = a_programme()
    assert programme.weekdays_on(MONDAY) == []
    assert not programme.is_lunch_day(MONDAY)


def test_one_day_a_week_growing_to_five_keeps_the_past_as_it_was():
    # given Mondays only from January, then Monday to Friday from March
    programme = a_programme()
    programme.change_weekdays([0], MONDAY, by=ORGANIZER)
    programme.change_weekdays([4, 0, 1, 2, 3, 3], date(2026, 3, 2), by=ORGANIZER)
    # then a Tuesday in February is not a lunch day but one in March is
    assert programme.is_lunch_day(date(2026, 2, 2))
    assert not programme.is_lunch_day(date(2026, 2, 3))
    assert programme.is_lunch_day(date(2026, 3, 3))
    assert programme.weekdays_on(date(2026, 3, 2)) == [0, 1, 2, 3, 4]
    assert programme.weekdays_on(date(2026, 3, 1)) == [0]
    # and nothing before the first change is a lunch day
    assert not programme.is_lunch_day(MONDAY - timedelta(days=7))


def test_weekday_changes_may_be_recorded_out_of_order_and_replace_the_same_date():
    programme = a_programme()
    programme.change_weekdays([1], date(2026, 6, 1), by=ORGANIZER)
    programme.change_weekdays([0], MONDAY, by=ORGANIZER)
    programme.change_weekdays([2], date(2026, 6, 1), by=ORGANIZER)
    assert programme.weekday_history == [[MONDAY, [0]], [date(2026, 6, 1), [2]]]


def test_choosing_the_weekdays_already_in_force_records_nothing():
    programme = a_programme()
    programme.change_weekdays([0, 2], MONDAY, by=ORGANIZER)
    programme.collect_events()
    programme.change_weekdays([2, 0], MONDAY + timedelta(days=30), by=ORGANIZER)
    assert programme.collect_events() == []


@pytest.mark.parametrize("weekdays", [[], [5], [6], [-1], [0, 7], ["1"]])
def test_weekdays_must_be_one_to_five_of_monday_to_friday(weekdays):
    with pytest.raises(InvalidValue) as error:
        a_programme().change_weekdays(weekdays, MONDAY, by=ORGANIZER)
    assert error.value.field == "weekdays"


def test_weekdays_need_an_effective_date():
    with pytest.raises(InvalidValue) as error:
        a_programme().change_weekdays([0], "2026-01-05", by=ORGANIZER)
    assert error.value.field == "effective_from"


def test_days_off_are_not_lunch_days_until_removed():
    programme = a_programme()
    programme.change_weekdays([0], MONDAY, by=ORGANIZER)
    programme.add_day_off(MONDAY, "New year party", by=ORGANIZER)
    programme.add_day_off(MONDAY, "again", by=ORGANIZER)  # no second event
    assert not programme.is_lunch_day(MONDAY)
    assert programme.days_off == {"2026-01-05": "New year party"}
    programme.remove_day_off(MONDAY, by=ORGANIZER)
    programme.remove_day_off(MONDAY, by=ORGANIZER)
    assert programme.is_lunch_day(MONDAY)
    kinds = [type(e) for e in programme.collect_events()]
    assert kinds.count(Programme.DayOffAdded) == 1 and kinds.count(Programme.DayOffRemoved) == 1


def test_a_day_off_without_a_reason_reads_day_off_and_needs_a_date():
    programme = a_programme()
    programme.add_day_off(MONDAY, "", by=ORGANIZER)
    assert programme.days_off["2026-01-05"] == "Day off"
    with pytest.raises(InvalidValue) as error:
        programme.add_day_off("2026-01-05", "x", by=ORGANIZER)
    assert error.value.field == "day"


def test_rooms_get_slug_ids_and_names_are_unique():
    programme = a_programme()
    assert programme.add_room("Blue Room", 12, by=ORGANIZER) == "blue-room"
    with pytest.raises(InvalidValue) as error:
        programme.add_room("blue room", 4, by=ORGANIZER)
    assert error.value.field == "room"
    programme.change_room_capacity("blue-room", 20, by=ORGANIZER)
    assert programme.rooms == {"blue-room": {"name": "Blue Room", "capacity": 20}}
    programme.remove_room("blue-room", by=ORGANIZER)
    assert programme.rooms == {}
    with pytest.raises(NotFound):
        programme.remove_room("blue-room", by=ORGANIZER)
    with pytest.raises(NotFound):
        programme.change_room_capacity("blue-room", 3, by=ORGANIZER)


@pytest.mark.parametrize("capacity", [0, -1, 501, 2.5, "10", True, None])
def test_room_capacity_must_be_a_whole_number_from_1_to_500(capacity):
    with pytest.raises(InvalidValue) as error:
        a_programme().add_room("Attic", capacity, by=ORGANIZER)
    assert error.value.field == "capacity"


@pytest.mark.parametrize("capacity", [1, 500])
def test_capacity_bounds_are_inclusive(capacity):
    assert check_capacity(capacity) == capacity


def test_lunch_times_are_in_the_programme_timezone():
    programme = a_programme()
    starts, ends = programme.lunch_times(date(2026, 7, 1))
    assert starts == datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/London"))
    assert starts.utcoffset() == timedelta(hours=1)
    assert ends - starts == timedelta(minutes=30)
    programme.change_lunch(time(13, 0), 45, by=ORGANIZER)
    starts, ends = programme.lunch_times(date(2026, 1, 7))
    assert (starts.hour, ends - starts) == (13, timedelta(minutes=45))


@pytest.mark.parametrize(("start", "minutes", "field"), [
    ("12:00", 30, "lunch_start"), (time(12), 9, "lunch_minutes"), (time(12), 121, "lunch_minutes"),
    (time(12), "30", "lunch_minutes"),
])
def test_lunch_length_and_start_are_validated(start, minutes, field):
    with pytest.raises(InvalidValue) as error:
        Programme.validate_lunch(start, minutes)
    assert error.value.field == field


def test_slot_checks_refuse_unknown_rooms_days_off_and_non_programme_days():
    programme = a_programme()
    programme.change_weekdays([0, 2], MONDAY, by=ORGANIZER)
    programme.add_room("Blue room", 5, by=ORGANIZER)
    programme.add_day_off(MONDAY + timedelta(days=7), "Holiday", by=ORGANIZER)
    assert programme.check_slot(MONDAY, "blue-room") == {"name": "Blue room", "capacity": 5}
    with pytest.raises(NotFound):
        programme.check_slot(MONDAY, "attic")
    with pytest.raises(SlotUnavailable, match="day off"):
        programme.check_slot(MONDAY + timedelta(days=7), "blue-room")
    with pytest.raises(SlotUnavailable, match="does not run"):
        programme.check_slot(MONDAY + timedelta(days=1), "blue-room")


def test_every_programme_event_records_the_organizer_with_an_aware_timestamp():
    programme = a_programme()
    programme.change_weekdays([0], MONDAY, by=ORGANIZER)
    programme.change_lunch(time(12, 30), 30, by=ORGANIZER)
    programme.add_room("Blue room", 5, by=ORGANIZER)
    programme.change_room_capacity("blue-room", 6, by=ORGANIZER)
    programme.remove_room("blue-room", by=ORGANIZER)
    programme.add_day_off(MONDAY, "x", by=ORGANIZER)
    programme.remove_day_off(MONDAY, by=ORGANIZER)
    events = programme.collect_events()
    assert len(events) == 8
    assert all(e.by == ORGANIZER and e.timestamp.utcoffset() is not None for e in events)


# --- LunchDay -------------------------------------------------------------------------------------


def test_a_lunch_day_has_a_deterministic_id_per_date():
    day = LunchDay(day=MONDAY, by=ORGANIZER)
    assert day.id == lunch_day_id(MONDAY) == LunchDay.create_id(MONDAY)
    assert lunch_day_id(MONDAY) != lunch_day_id(MONDAY + timedelta(days=1))


def test_a_room_taken_by_one_talk_is_refused_to_another():
    day, first, second = LunchDay(day=MONDAY, by=ORGANIZER), uuid4(), uuid4()
    day.book(first, "blue-room", uuid4(), by=ORGANIZER)
    with pytest.raises(SlotTaken):
        day.book(second, "blue-room", uuid4(), by=ORGANIZER)
    day.book(second, "attic", uuid4(), by=ORGANIZER)
    assert day.rooms == {"blue-room": first, "attic": second}


def test_a_speaker_gives_at_most_one_talk_a_day():
    day, speaker = LunchDay(day=MONDAY, by=ORGANIZER), uuid4()
    day.book(uuid4(), "blue-room", speaker, by=speaker)
    with pytest.raises(SpeakerBusy):
        day.book(uuid4(), "attic", speaker, by=speaker)


def test_booking_the_same_talk_again_moves_it_to_the_new_room():
    day, talk, speaker = LunchDay(day=MONDAY, by=ORGANIZER), uuid4(), uuid4()
    day.book(talk, "blue-room", speaker, by=speaker)
    day.book(talk, "attic", speaker, by=speaker)
    assert day.rooms == {"attic": talk}
    assert day.speakers == {str(speaker): talk}


def test_releasing_a_talk_frees_its_room_and_its_speaker():
    day, talk, speaker = LunchDay(day=MONDAY, by=ORGANIZER), uuid4(), uuid4()
    day.book(talk, "blue-room", speaker, by=speaker)
    day.release(talk, by=speaker)
    day.release(talk, by=speaker)  # releasing again records nothing
    assert day.rooms == {} and day.speakers == {}
    day.book(uuid4(), "blue-room", speaker, by=speaker)
    events = day.collect_events()
    assert [type(e) for e in events] == [LunchDay.Opened, LunchDay.Booked, LunchDay.Released, LunchDay.Booked]
    assert all(e.timestamp.utcoffset() is not None for e in events)
