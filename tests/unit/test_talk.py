"""Talk, in memory: proposals, scheduling, sign-ups and the waitlist, attendance, feedback."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from commonroom.domain.errors import InvalidValue, NotAllowed
from commonroom.domain.talk import (
    AlreadySignedUp, FeedbackAlreadyGiven, NotSignedUp, Talk, TalkNotOpen, TooEarly, TooLate, validate_proposal,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
DAY = date(2026, 3, 4)
STARTS = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
ENDS = STARTS + timedelta(minutes=30)
SPEAKER, ORGANIZER = uuid4(), uuid4()


def a_talk() -> Talk:
    return Talk(speaker_id=SPEAKER, title="Event sourcing", abstract="Why", topics=["python"], by=SPEAKER)


def a_scheduled_talk(capacity: int = 2) -> Talk:
    talk = a_talk()
    talk.schedule(DAY, "blue-room", STARTS, ENDS, capacity, now=NOW, by=SPEAKER)
    return talk


def types(events) -> list[type]:
    return [type(e) for e in events]


# --- proposing ------------------------------------------------------------------------------------


def test_a_proposal_is_cleaned_and_keeps_distinct_topics():
    assert validate_proposal("  Event   sourcing ", " Why ", "python, Python ,  sql,") == (
        "Event sourcing", "Why", ["python", "sql"])


@pytest.mark.parametrize(("title", "abstract", "topics", "field"), [
    ("ab", "", ["x"], "title"),
    ("t" * 121, "", ["x"], "title"),
    (None, "", ["x"], "title"),
    ("Title", "a" * 4001, ["x"], "abstract"),
    ("Title", "", [], "topics"),
    ("Title", "", " , ,", "topics"),
    ("Title", "", 42, "topics"),
    ("Title", "", [f"t{i}" for i in range(9)], "topics"),
    ("Title", "", ["t" * 41], "topics"),
])
def test_an_invalid_proposal_names_the_field(title, abstract, topics, field):
    with pytest.raises(InvalidValue) as error:
        validate_proposal(title, abstract, topics)
    assert error.value.field == field


def test_a_new_talk_is_a_proposal_without_a_slot():
    talk = a_talk()
    assert (talk.status, talk.day, talk.capacity, talk.sequence) == ("proposed", None, 0, 0)
    [proposed] = talk.collect_events()
    assert isinstance(proposed, Talk.Proposed) and proposed.by == SPEAKER
    assert proposed.timestamp.utcoffset() is not None


def test_only_the_speaker_revises_and_not_after_withdrawal():
    talk = a_talk()
    with pytest.raises(NotAllowed):
        talk.revise("New title", "", ["x"], by=uuid4())
    talk.revise("New title", "", ["x"], by=SPEAKER)
    assert talk.title == "New title"
    talk.withdraw(by=SPEAKER)
    with pytest.raises(TalkNotOpen):
        talk.revise("Again", "", ["x"], by=SPEAKER)


# --- scheduling -----------------------------------------------------------------------------------


def test_scheduling_in_the_past_is_refused():
    talk = a_talk()
    with pytest.raises(InvalidValue) as error:
        talk.schedule(DAY, "blue-room", STARTS, ENDS, 5, now=STARTS, by=SPEAKER)
    assert error.value.field == "day"
    assert talk.status == "proposed"


def test_only_the_speaker_or_an_organizer_schedules():
    with pytest.raises(NotAllowed):
        a_talk().schedule(DAY, "blue-room", STARTS, ENDS, 5, now=NOW, by=uuid4())
    talk = a_talk()
    talk.schedule(DAY, "blue-room", STARTS, ENDS, 5, now=NOW, by=ORGANIZER, by_organizer=True)
    assert (talk.status, talk.day, talk.room_id, talk.capacity) == ("scheduled", DAY, "blue-room", 5)
    assert talk.collect_events()[-1].by == ORGANIZER


def test_a_scheduled_talk_is_not_scheduled_again_but_rescheduled():
    talk = a_scheduled_talk()
    with pytest.raises(TalkNotOpen):
        talk.schedule(DAY, "attic", STARTS, ENDS, 5, now=NOW, by=SPEAKER)
    with pytest.raises(TalkNotOpen):
        a_talk().reschedule(DAY, "attic", STARTS, ENDS, 5, now=NOW, by=SPEAKER)


def test_rescheduling_moves_the_talk_and_increases_its_sequence():
    talk = a_scheduled_talk()
    later = STARTS + timedelta(days=1)
    talk.reschedule(DAY + timedelta(days=1), "attic", later, later + timedelta(minutes=30), 3, now=NOW, by=SPEAKER)
    talk.reschedule(DAY + timedelta(days=1), "blue-room", later, later + timedelta(minutes=30), 3, now=NOW, by=SPEAKER)
    assert (talk.day, talk.room_id, talk.starts_at, talk.sequence) == (DAY + timedelta(days=1), "blue-room", later, 2)


def test_rescheduling_into_the_past_or_after_the_start_is_refused():
    talk = a_scheduled_talk()
    with pytest.raises(InvalidValue):
        talk.reschedule(DAY, "blue-room", NOW - timedelta(hours=1), NOW, 3, now=NOW, by=SPEAKER)
    with pytest.raises(TooLate):
        talk.reschedule(DAY, "blue-room", STARTS + timedelta(days=1), ENDS, 3, now=STARTS, by=SPEAKER)


def test_rescheduling_refuses_a_room_smaller_than_the_confirmed_count():
    talk = a_scheduled_talk(capacity=3)
    for _ in range(3):
        talk.sign_up(uuid4(), now=NOW, by=uuid4())
    with pytest.raises(InvalidValue) as error:
        talk.reschedule(DAY, "cupboard", STARTS, ENDS, 2, now=NOW, by=SPEAKER)
    assert error.value.field == "room"
    assert (talk.room_id, talk.capacity, talk.sequence) == ("blue-room", 3, 0)


def test_rescheduling_into_a_bigger_room_promotes_the_waitlist_in_order():
    # given a full talk with three on the waitlist
    talk = a_scheduled_talk(capacity=1)
    people = [uuid4() for _ in range(4)]
    for peer in people:
        talk.sign_up(peer, now=NOW, by=peer)
    talk.collect_events()
    # when it moves to a room for three
    talk.reschedule(DAY, "hall", STARTS, ENDS, 3, now=NOW, by=SPEAKER)
    # then the first two waiting are promoted, in the same change, the third keeps waiting
    events = talk.collect_events()
    assert types(events) == [Talk.Rescheduled, Talk.Promoted, Talk.Promoted]
    assert [e.peer_id for e in events[1:]] == people[1:3]
    assert talk.confirmed == people[:3] and talk.waitlist == people[3:]
    assert talk.waitlist_position(people[3]) == 1


def test_cancelling_a_scheduled_talk_increases_its_sequence_and_closes_it():
    talk = a_scheduled_talk()
    with pytest.raises(NotAllowed):
        talk.cancel("ill", now=NOW, by=uuid4())
    talk.cancel("  speaker ill ", now=NOW, by=SPEAKER)
    assert (talk.status, talk.sequence) == ("cancelled", 1)
    assert talk.collect_events()[-1].reason == "speaker ill"
    with pytest.raises(TalkNotOpen):
        talk.cancel("again", now=NOW, by=SPEAKER)
    with pytest.raises(TalkNotOpen):
        talk.sign_up(uuid4(), now=NOW, by=uuid4())


def test_a_talk_cannot_be_cancelled_once_started():
    with pytest.raises(TooLate):
        a_scheduled_talk().cancel("", now=STARTS, by=SPEAKER)


def test_withdraw_is_for_proposals_and_cancel_for_scheduled_talks():
    proposal = a_talk()
    with pytest.raises(NotAllowed):
        proposal.withdraw(by=uuid4())
    with pytest.raises(TalkNotOpen):
        proposal.cancel("", now=NOW, by=SPEAKER)
    proposal.withdraw(by=SPEAKER)
    assert proposal.status == "withdrawn"
    with pytest.raises(TalkNotOpen):
        proposal.withdraw(by=SPEAKER)
    with pytest.raises(TalkNotOpen):
        proposal.schedule(DAY, "blue-room", STARTS, ENDS, 5, now=NOW, by=SPEAKER)
    with pytest.raises(TalkNotOpen):
        a_scheduled_talk().withdraw(by=SPEAKER)


# --- sign-ups -------------------------------------------------------------------------------------


def test_sign_ups_are_confirmed_while_seats_remain_then_waitlisted_with_positions():
    talk = a_scheduled_talk(capacity=2)
    talk.collect_events()
    people = [uuid4() for _ in range(5)]
    for peer in people:
        talk.sign_up(peer, now=NOW, by=peer)
    events = talk.collect_events()
    assert types(events) == [Talk.SignedUp] * 2 + [Talk.Waitlisted] * 3
    assert [e.position for e in events[2:]] == [1, 2, 3]
    assert [e.by for e in events] == people
    assert talk.confirmed == people[:2] and talk.waitlist == people[2:]
    assert [talk.waitlist_position(p) for p in people] == [None, None, 1, 2, 3]


def test_nobody_signs_up_twice_confirmed_or_waiting():
    talk = a_scheduled_talk(capacity=1)
    first, second = uuid4(), uuid4()
    talk.sign_up(first, now=NOW, by=first)
    talk.sign_up(second, now=NOW, by=second)
    with pytest.raises(AlreadySignedUp):
        talk.sign_up(first, now=NOW, by=first)
    with pytest.raises(AlreadySignedUp):
        talk.sign_up(second, now=NOW, by=second)


def test_a_speaker_cannot_sign_up_to_their_own_talk():
    with pytest.raises(AlreadySignedUp, match="speaker"):
        a_scheduled_talk().sign_up(SPEAKER, now=NOW, by=SPEAKER)


def test_sign_ups_need_a_scheduled_talk_that_has_not_started():
    with pytest.raises(TalkNotOpen):
        a_talk().sign_up(uuid4(), now=NOW, by=uuid4())
    with pytest.raises(TooLate):
        a_scheduled_talk().sign_up(uuid4(), now=STARTS, by=uuid4())


def test_a_cancellation_promotes_the_first_on_the_waitlist_in_the_same_change():
    talk = a_scheduled_talk(capacity=2)
    people = [uuid4() for _ in range(5)]
    for peer in people:
        talk.sign_up(peer, now=NOW, by=peer)
    talk.collect_events()
    # when a confirmed peer cancels
    talk.cancel_sign_up(people[0], now=NOW, by=people[0])
    # then the first waiting is promoted by the same save and the others move up
    events = talk.collect_events()
    assert types(events) == [Talk.SignUpCancelled, Talk.Promoted]
    assert events[0].was_waitlisted is False and events[1].peer_id == people[2]
    assert talk.confirmed == [people[1], people[2]] and talk.waitlist == people[3:]
    assert talk.waitlist_position(people[4]) == 2


def test_leaving_the_waitlist_promotes_nobody():
    talk = a_scheduled_talk(capacity=1)
    people = [uuid4() for _ in range(3)]
    for peer in people:
        talk.sign_up(peer, now=NOW, by=peer)
    talk.collect_events()
    talk.cancel_sign_up(people[1], now=NOW, by=people[1])
    events = talk.collect_events()
    assert types(events) == [Talk.SignUpCancelled] and events[0].was_waitlisted is True
    assert talk.waitlist == [people[2]]


def test_only_signed_up_peers_cancel_and_not_after_the_start():
    talk = a_scheduled_talk()
    with pytest.raises(NotSignedUp):
        talk.cancel_sign_up(uuid4(), now=NOW, by=uuid4())
    peer = uuid4()
    talk.sign_up(peer, now=NOW, by=peer)
    with pytest.raises(TooLate):
        talk.cancel_sign_up(peer, now=STARTS, by=peer)


# --- attendance and feedback ---------------------------------------------------------------------


def a_talk_that_has_started(*confirmed, waiting=()) -> Talk:
    talk = a_scheduled_talk(capacity=len(confirmed))
    for peer in (*confirmed, *waiting):
        talk.sign_up(peer, now=NOW, by=peer)
    return talk


def test_attendance_is_recorded_only_after_the_start():
    peer = uuid4()
    talk = a_talk_that_has_started(peer)
    with pytest.raises(TooEarly):
        talk.record_attendance(peer, True, now=STARTS - timedelta(seconds=1), by=SPEAKER)
    talk.record_attendance(peer, True, now=STARTS, by=SPEAKER)
    assert talk.attendance == {str(peer): True}


def test_attendance_is_recorded_only_by_the_speaker_or_an_organizer():
    peer = uuid4()
    talk = a_talk_that_has_started(peer)
    with pytest.raises(NotAllowed):
        talk.record_attendance(peer, True, now=ENDS, by=peer)
    talk.record_attendance(peer, False, now=ENDS, by=ORGANIZER, by_organizer=True)
    assert talk.attendance == {str(peer): False}
    assert talk.collect_events()[-1].by == ORGANIZER


def test_attendance_is_recorded_only_for_confirmed_sign_ups():
    confirmed, waiting = uuid4(), uuid4()
    talk = a_talk_that_has_started(confirmed, waiting=[waiting])
    with pytest.raises(NotSignedUp):
        talk.record_attendance(waiting, True, now=ENDS, by=SPEAKER)
    with pytest.raises(NotSignedUp):
        talk.record_attendance(uuid4(), True, now=ENDS, by=SPEAKER)
    with pytest.raises(TalkNotOpen):
        a_talk().record_attendance(confirmed, True, now=ENDS, by=SPEAKER)


def test_recording_the_same_attendance_twice_records_one_event():
    peer = uuid4()
    talk = a_talk_that_has_started(peer)
    talk.collect_events()
    talk.record_attendance(peer, True, now=ENDS, by=SPEAKER)
    talk.record_attendance(peer, True, now=ENDS, by=SPEAKER)
    talk.record_attendance(peer, False, now=ENDS, by=SPEAKER)
    assert [e.attended for e in talk.collect_events()] == [True, False]


@pytest.mark.parametrize("rating", [0, 6, -1, 2.5, "5", True, None])
def test_feedback_ratings_are_whole_numbers_from_1_to_5(rating):
    peer = uuid4()
    talk = a_talk_that_has_started(peer)
    talk.record_attendance(peer, True, now=ENDS, by=SPEAKER)
    with pytest.raises(InvalidValue) as error:
        talk.give_feedback(peer, rating, "", by=peer)
    assert error.value.field == "rating"


@pytest.mark.parametrize("rating", [1, 5])
def test_feedback_is_given_once_by_someone_who_attended(rating):
    peer = uuid4()
    talk = a_talk_that_has_started(peer)
    talk.record_attendance(peer, True, now=ENDS, by=SPEAKER)
    talk.collect_events()
    talk.give_feedback(peer, rating, "  Great talk ", by=peer)
    [given] = talk.collect_events()
    assert (given.rating, given.comment, given.by) == (rating, "Great talk", peer)
    assert talk.ratings == {str(peer): rating}
    with pytest.raises(FeedbackAlreadyGiven):
        talk.give_feedback(peer, 3, "", by=peer)


def test_no_shows_and_strangers_cannot_give_feedback():
    no_show = uuid4()
    talk = a_talk_that_has_started(no_show)
    talk.record_attendance(no_show, False, now=ENDS, by=SPEAKER)
    with pytest.raises(NotAllowed):
        talk.give_feedback(no_show, 4, "", by=no_show)
    with pytest.raises(NotAllowed):
        talk.give_feedback(uuid4(), 4, "", by=uuid4())


def test_a_comment_longer_than_2000_characters_is_refused():
    peer = uuid4()
    talk = a_talk_that_has_started(peer)
    talk.record_attendance(peer, True, now=ENDS, by=SPEAKER)
    with pytest.raises(InvalidValue) as error:
        talk.give_feedback(peer, 4, "x" * 2001, by=peer)
    assert error.value.field == "comment"


def test_a_reminder_is_sent_once_and_only_for_a_scheduled_talk():
    proposal = a_talk()
    proposal.send_reminder(by=ORGANIZER)
    assert not proposal.reminded
    talk = a_scheduled_talk()
    talk.collect_events()
    talk.send_reminder(by=ORGANIZER)
    talk.send_reminder(by=ORGANIZER)
    assert types(talk.collect_events()) == [Talk.Reminded]


def test_every_talk_event_records_its_actor_with_an_aware_timestamp():
    # given a talk through its whole life
    peer, waiting = uuid4(), uuid4()
    talk = a_scheduled_talk(capacity=1)
    talk.revise("Event sourcing in practice", "", ["python"], by=SPEAKER)
    talk.sign_up(peer, now=NOW, by=peer)
    talk.sign_up(waiting, now=NOW, by=waiting)
    talk.cancel_sign_up(waiting, now=NOW, by=waiting)
    talk.send_reminder(by=ORGANIZER)
    talk.record_attendance(peer, True, now=ENDS, by=SPEAKER)
    talk.give_feedback(peer, 5, "", by=peer)
    # then every event names who acted and when, with a timezone
    events = talk.collect_events()
    assert [e.by for e in events] == [SPEAKER, SPEAKER, SPEAKER, peer, waiting, waiting, ORGANIZER, SPEAKER, peer]
    assert all(e.timestamp.tzinfo is not None and e.timestamp.utcoffset() is not None for e in events)


def test_leaving_a_cancelled_talk_promotes_nobody():
    # given a cancelled talk that was full with one waiting
    confirmed, waiting = uuid4(), uuid4()
    talk = a_talk_that_has_started(confirmed, waiting=[waiting])
    talk.cancel("Speaker ill", now=NOW, by=SPEAKER)
    talk.collect_events()
    # when the confirmed peer takes it off their list
    talk.cancel_sign_up(confirmed, now=NOW, by=confirmed)
    # then nobody is told a seat came free at a talk that will not happen
    assert types(talk.collect_events()) == [Talk.SignUpCancelled]
    assert talk.waitlist == [waiting]


def test_a_talk_moved_after_its_reminder_is_reminded_again():
    talk = a_scheduled_talk()
    talk.send_reminder(by=ORGANIZER)
    later = STARTS + timedelta(days=7)
    talk.reschedule(DAY + timedelta(days=7), "blue-room", later, later + timedelta(minutes=30), 2, now=NOW,
                    by=SPEAKER)
    talk.collect_events()
    talk.send_reminder(by=ORGANIZER)
    assert types(talk.collect_events()) == [Talk.Reminded]
