"""The use-case services on SQLite and PostgreSQL: people, scheduling, sign-ups, read models, outbox."""

from __future__ import annotations

import threading
from datetime import timedelta
from uuid import uuid4

import pytest

from commonroom.domain.errors import InvalidValue, NotAllowed, NotFound
from commonroom.domain.lunchday import SlotTaken, SpeakerBusy
from commonroom.domain.peer import EmailTaken
from commonroom.domain.programme import SlotUnavailable
from commonroom.domain.talk import AlreadySignedUp, Talk, TooEarly
from commonroom.platform.services import SYSTEM_ACTOR
from commonroom.projections.attendance import SignUpRow
from commonroom.projections.notifications import NotificationRow
from commonroom.projections.people import PeerRow, PeerSkillRow
from commonroom.projections.schedule import DayOffRow, RoomRow, TalkRow, WeekdaysRow
from support import next_weekday
from core_given import PASSWORD, a_peer, a_scheduled_talk, an_organizer, rows, weekday_after


# --- people ---------------------------------------------------------------------------------------


def test_a_registered_peer_appears_in_the_people_view_with_a_lower_case_email(services):
    registered = services.people.register("Ada Lovelace", " Ada@Example.ORG ", "Audit", PASSWORD, "Asia/Tokyo")
    [row] = rows(services, PeerRow)
    assert (row.id, row.email, row.timezone, row.active, row.is_organizer) == (
        str(registered.peer_id), "ada@example.org", "Asia/Tokyo", True, False)
    assert services.people.password_matches(row.password_hash, PASSWORD)
    assert registered.position == services.store.max_notification_id()


def test_an_email_is_registered_once_whatever_its_case(services):
    a_peer(services, "Ada Lovelace", "ada@example.org")
    with pytest.raises(EmailTaken) as error:
        services.people.register("Other Ada", "ADA@example.org", "Audit", PASSWORD)
    assert error.value.field == "email"
    assert len(rows(services, PeerRow)) == 1


def test_ten_concurrent_registrations_of_one_email_let_exactly_one_through(services):
    # given ten people registering the same email at the same moment
    barrier, outcomes = threading.Barrier(10), []

    def register(i: int) -> None:
        barrier.wait()
        try:
            services.people.register(f"Ada {i}", f"ADA@example.org{'' if i % 2 else ' '}", "Audit", PASSWORD)
            outcomes.append("registered")
        except EmailTaken:
            outcomes.append("taken")
        except Exception as error:  # noqa: BLE001 - any other outcome fails the test below
            outcomes.append(repr(error))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly one succeeds and the others are told the email is taken
    assert sorted(outcomes) == ["registered"] + ["taken"] * 9
    assert len(rows(services, PeerRow)) == 1


def test_a_changed_email_frees_the_old_one_and_claims_the_new_one(services):
    ada = a_peer(services, "Ada Lovelace", "ada@example.org")
    a_peer(services, "Bob Builder", "bob@example.org")
    with pytest.raises(EmailTaken):
        services.people.change_profile(ada, "Ada", "BOB@example.org", "Audit", "UTC", by=ada)
    services.people.change_profile(ada, "Ada King", "ada.king@example.org", "Research", "UTC", by=ada)
    # the old email can be registered again, the new one cannot
    carol = services.people.register("Carol", "ada@example.org", "Audit", PASSWORD).peer_id
    with pytest.raises(EmailTaken):
        services.people.register("Dan", "Ada.King@example.org", "Audit", PASSWORD)
    assert services.people.peer_id_for_email("ADA@example.org") == carol
    assert services.people.peer_id_for_email("ada.king@example.org") == ada
    emails = {r.email for r in rows(services, PeerRow)}
    assert emails == {"ada@example.org", "ada.king@example.org", "bob@example.org"}


def test_registration_refuses_bad_values_naming_the_field_and_stores_nothing(services):
    for args, field in [
        (("", "a@example.org", "Audit", PASSWORD), "name"),
        (("Ada", "not-an-email", "Audit", PASSWORD), "email"),
        (("Ada", "a@example.org", "", PASSWORD), "department"),
        (("Ada", "a@example.org", "Audit", "short"), "password"),
    ]:
        with pytest.raises(InvalidValue) as error:
            services.people.register(*args)
        assert error.value.field == field
    with pytest.raises(InvalidValue) as error:
        services.people.register("Ada", "a@example.org", "Audit", PASSWORD, "Nowhere/Town")
    assert error.value.field == "timezone"
    assert services.store.max_notification_id() == 0


def test_skills_and_roles_show_in_the_people_view(services):
    ada, bob = a_peer(services, "Ada Lovelace"), a_peer(services, "Bob Builder")
    services.people.offer_skill(ada, "Python", by=ada)
    services.people.want_skill(ada, "Rust", by=ada)
    services.people.offer_skill(ada, "SQL", by=ada)
    services.people.withdraw_skill(ada, "SQL", by=ada)
    with pytest.raises(NotAllowed):
        services.people.offer_skill(ada, "Go", by=bob)
    services.people.grant_organizer(bob, by=SYSTEM_ACTOR)
    services.people.offer_skill(ada, "Go", by=bob)  # organizers may edit anyone
    services.people.deactivate(bob, by=bob)
    skills = sorted((r.kind, r.skill) for r in rows(services, PeerSkillRow))
    assert skills == [("offer", "Go"), ("offer", "Python"), ("want", "Rust")]
    [bob_row] = rows(services, PeerRow, PeerRow.id == str(bob))
    assert bob_row.is_organizer and not bob_row.active


# --- the programme and scheduling -----------------------------------------------------------------


def test_only_organizers_change_the_programme(services):
    organizer, ada = an_organizer(services), a_peer(services, "Ada Lovelace")
    with pytest.raises(NotAllowed):
        services.programme.change(lambda p: p.add_room("Attic", 3, by=ada), by=ada)
    day = next_weekday(14)
    services.programme.change(lambda p: p.add_day_off(day, "Away day", by=organizer), by=organizer)
    assert [(r.day, r.reason) for r in rows(services, DayOffRow)] == [(day, "Away day")]
    assert {r.id: r.capacity for r in rows(services, RoomRow)} == {"blue-room": 5, "great-hall": 50}
    assert [r.weekdays for r in rows(services, WeekdaysRow)] == ["0,1,2,3,4"]


def test_a_room_taken_that_day_is_refused_to_a_second_talk(services):
    an_organizer(services)
    ada, bob = a_peer(services, "Ada Lovelace"), a_peer(services, "Bob Builder")
    a_scheduled_talk(services, ada)
    second, _ = services.talks.propose(bob, "Second talk", "", ["x"])
    with pytest.raises(SlotTaken):
        services.talks.schedule(second, next_weekday(7), "blue-room", by=bob)
    services.talks.schedule(second, next_weekday(7), "great-hall", by=bob)


def test_a_speaker_gives_one_talk_a_day(services):
    an_organizer(services)
    ada = a_peer(services, "Ada Lovelace")
    a_scheduled_talk(services, ada)
    second, _ = services.talks.propose(ada, "Second talk", "", ["x"])
    with pytest.raises(SpeakerBusy):
        services.talks.schedule(second, next_weekday(7), "great-hall", by=ada)


def test_days_off_and_days_outside_the_programme_have_no_slots(services):
    organizer = an_organizer(services, weekdays=(0, 2))
    ada = a_peer(services, "Ada Lovelace")
    talk_id, _ = services.talks.propose(ada, "A talk", "", ["x"])
    monday = next_weekday(7) + timedelta(days=7 - next_weekday(7).weekday())
    services.programme.change(lambda p: p.add_day_off(monday, "Holiday", by=organizer), by=organizer)
    with pytest.raises(SlotUnavailable, match="day off"):
        services.talks.schedule(talk_id, monday, "blue-room", by=ada)
    with pytest.raises(SlotUnavailable, match="does not run"):
        services.talks.schedule(talk_id, monday + timedelta(days=1), "blue-room", by=ada)
    with pytest.raises(SlotUnavailable):
        services.talks.schedule(talk_id, monday + timedelta(days=5), "blue-room", by=ada)  # a Saturday
    with pytest.raises(NotFound):
        services.talks.schedule(talk_id, monday + timedelta(days=2), "attic", by=ada)
    services.talks.schedule(talk_id, monday + timedelta(days=2), "blue-room", by=ada)


def test_scheduling_in_the_past_is_refused_with_the_day_field(services):
    an_organizer(services)
    ada = a_peer(services, "Ada Lovelace")
    talk_id, _ = services.talks.propose(ada, "A talk", "", ["x"])
    yesterday = next_weekday(-7)
    with pytest.raises(InvalidValue) as error:
        services.talks.schedule(talk_id, yesterday, "blue-room", by=ada)
    assert error.value.field == "day"


def test_moving_a_talk_frees_its_old_slot(services):
    an_organizer(services)
    ada, bob = a_peer(services, "Ada Lovelace"), a_peer(services, "Bob Builder")
    talk_id = a_scheduled_talk(services, ada)
    services.talks.schedule(talk_id, weekday_after(next_weekday(7)), "blue-room", by=ada)
    other, _ = services.talks.propose(bob, "Other", "", ["x"])
    services.talks.schedule(other, next_weekday(7), "blue-room", by=bob)
    [row] = rows(services, TalkRow, TalkRow.id == str(talk_id))
    assert (row.day, row.sequence, row.status) == (weekday_after(next_weekday(7)), 1, "scheduled")


def test_a_cancelled_talk_frees_its_room_and_speaker(services):
    an_organizer(services)
    ada = a_peer(services, "Ada Lovelace")
    talk_id = a_scheduled_talk(services, ada)
    services.talks.cancel(talk_id, "Ill", by=ada)
    a_scheduled_talk(services, ada, title="Another")
    statuses = sorted(r.status for r in rows(services, TalkRow))
    assert statuses == ["cancelled", "scheduled"]


# --- sign-ups, the read models and the outbox -----------------------------------------------------


def test_sign_ups_fill_the_room_then_the_waitlist_and_the_views_follow(services):
    an_organizer(services, rooms=(("Blue room", 2),))
    ada = a_peer(services, "Ada Lovelace")
    talk_id = a_scheduled_talk(services, ada)
    people = [uuid4() for _ in range(4)]
    for peer in people:
        services.talks.sign_up(talk_id, peer)
    with pytest.raises(AlreadySignedUp):
        services.talks.sign_up(talk_id, people[0])
    [talk] = rows(services, TalkRow)
    assert (talk.capacity, talk.confirmed, talk.waitlisted) == (2, 2, 2)
    signups = {r.peer_id: (r.status, r.position) for r in rows(services, SignUpRow)}
    assert signups == {str(people[0]): ("confirmed", None), str(people[1]): ("confirmed", None),
                       str(people[2]): ("waitlisted", 1), str(people[3]): ("waitlisted", 2)}


def test_a_cancellation_promotes_the_first_waiting_and_tells_them(services):
    an_organizer(services, rooms=(("Blue room", 1),))
    ada = a_peer(services, "Ada Lovelace")
    talk_id = a_scheduled_talk(services, ada)
    first, second, third = uuid4(), uuid4(), uuid4()
    for peer in (first, second, third):
        services.talks.sign_up(talk_id, peer)
    # when the confirmed peer cancels
    services.talks.cancel_sign_up(talk_id, first)
    # then the first waiting is confirmed, the next moves up, and the promoted peer is told
    signups = {r.peer_id: (r.status, r.position) for r in rows(services, SignUpRow)}
    assert signups == {str(first): ("cancelled", None), str(second): ("confirmed", None),
                       str(third): ("waitlisted", 1)}
    [note] = rows(services, NotificationRow)
    assert (note.peer_id, note.kind) == (str(second), "promoted")
    assert "Event sourcing" in note.message


def test_moving_a_talk_tells_everyone_signed_up_and_a_bigger_room_promotes(services):
    an_organizer(services, rooms=(("Blue room", 1), ("Great hall", 50)))
    ada = a_peer(services, "Ada Lovelace")
    talk_id = a_scheduled_talk(services, ada)
    confirmed, waiting = uuid4(), uuid4()
    services.talks.sign_up(talk_id, confirmed)
    services.talks.sign_up(talk_id, waiting)
    services.talks.schedule(talk_id, weekday_after(next_weekday(7)), "great-hall", by=ada)
    notes = sorted((r.peer_id, r.kind) for r in rows(services, NotificationRow))
    assert notes == sorted([(str(confirmed), "moved"), (str(waiting), "moved"), (str(waiting), "promoted")])
    [talk] = rows(services, TalkRow)
    assert (talk.confirmed, talk.waitlisted, talk.capacity, talk.sequence) == (2, 0, 50, 1)


def test_moving_a_talk_into_a_room_too_small_is_refused(services):
    an_organizer(services, rooms=(("Blue room", 3), ("Cupboard", 1)))
    ada = a_peer(services, "Ada Lovelace")
    talk_id = a_scheduled_talk(services, ada)
    services.talks.sign_up(talk_id, uuid4())
    services.talks.sign_up(talk_id, uuid4())
    with pytest.raises(InvalidValue) as error:
        services.talks.schedule(talk_id, next_weekday(7), "cupboard", by=ada)
    assert error.value.field == "room"


def test_cancelling_a_talk_tells_confirmed_and_waiting_peers_but_not_those_who_left(services):
    an_organizer(services, rooms=(("Blue room", 1),))
    ada = a_peer(services, "Ada Lovelace")
    talk_id = a_scheduled_talk(services, ada)
    confirmed, waiting, left = uuid4(), uuid4(), uuid4()
    for peer in (confirmed, waiting, left):
        services.talks.sign_up(talk_id, peer)
    services.talks.cancel_sign_up(talk_id, left)
    services.talks.cancel(talk_id, "Speaker ill", by=ada)
    notes = rows(services, NotificationRow, NotificationRow.kind == "cancelled")
    assert sorted(r.peer_id for r in notes) == sorted([str(confirmed), str(waiting)])
    assert all("Speaker ill" in r.message for r in notes)


def test_a_reminder_goes_once_to_confirmed_peers_only(services):
    an_organizer(services, rooms=(("Blue room", 1),))
    ada = a_peer(services, "Ada Lovelace")
    talk_id = a_scheduled_talk(services, ada)
    confirmed, waiting = uuid4(), uuid4()
    services.talks.sign_up(talk_id, confirmed)
    services.talks.sign_up(talk_id, waiting)
    services.talks.send_reminder(talk_id)
    services.talks.send_reminder(talk_id)
    notes = rows(services, NotificationRow, NotificationRow.kind == "reminder")
    assert [r.peer_id for r in notes] == [str(confirmed)]
    reminded = [e for e in services.store.events.get(talk_id) if isinstance(e, Talk.Reminded)]
    assert len(reminded) == 1 and reminded[0].by == SYSTEM_ACTOR


def test_attendance_and_feedback_after_the_talk_show_in_the_attendance_view(services, clock):
    organizer = an_organizer(services)
    ada = a_peer(services, "Ada Lovelace")
    came, absent = a_peer(services, "Carl Came"), a_peer(services, "Nina Noshow")
    talk_id = a_scheduled_talk(services, ada)
    services.talks.sign_up(talk_id, came)
    services.talks.sign_up(talk_id, absent)
    with pytest.raises(TooEarly):
        services.talks.record_attendance(talk_id, {came: True}, by=ada)
    # when the talk has happened
    [talk] = rows(services, TalkRow)
    clock.set(talk.starts_at + timedelta(minutes=45))
    with pytest.raises(NotAllowed):
        services.talks.record_attendance(talk_id, {came: True}, by=came)
    services.talks.record_attendance(talk_id, {came: True}, by=ada)
    services.talks.record_attendance(talk_id, {absent: False}, by=organizer)
    services.talks.give_feedback(talk_id, came, 5, "Loved it")
    with pytest.raises(NotAllowed):
        services.talks.give_feedback(talk_id, absent, 4, "")
    # then the attendance view shows who came and what they said
    signups = {r.peer_id: (r.attended, r.rating, r.comment)
               for r in rows(services, SignUpRow)}
    assert signups == {str(came): (True, 5, "Loved it"), str(absent): (False, None, "")}


def test_unknown_talks_and_peers_are_not_found(services):
    with pytest.raises(NotFound):
        services.talks.sign_up(uuid4(), uuid4())
    with pytest.raises(NotFound):
        services.talks.propose(uuid4(), "A title", "", ["x"])
    ada = a_peer(services, "Ada Lovelace")
    with pytest.raises(NotFound):
        services.talks.sign_up(ada, uuid4())  # a peer's id is not a talk


def test_a_deactivated_organizer_no_longer_acts_as_one(services):
    organizer = an_organizer(services)
    services.people.deactivate(organizer, by=organizer)
    assert not services.people.is_organizer(organizer)
    with pytest.raises(NotAllowed):
        services.programme.change(lambda p: p.add_room("Attic", 3, by=organizer), by=organizer)


def test_only_an_organizer_or_the_operator_grants_or_takes_the_organizer_role(services):
    organizer = an_organizer(services)
    ada, bob = a_peer(services, "Ada Lovelace"), a_peer(services, "Bob Babbage")
    # a peer cannot make themself (or anyone) an organizer, nor take the role from one
    with pytest.raises(NotAllowed):
        services.people.grant_organizer(ada, by=ada)
    with pytest.raises(NotAllowed):
        services.people.grant_organizer(bob, by=ada)
    with pytest.raises(NotAllowed):
        services.people.revoke_organizer(organizer, by=ada)
    assert not services.people.is_organizer(ada) and services.people.is_organizer(organizer)
    # an organizer can, and so can the operator (the CLI acts as SYSTEM_ACTOR); each is recorded
    services.people.grant_organizer(ada, by=organizer)
    services.people.grant_organizer(bob, by=SYSTEM_ACTOR)
    assert services.people.is_organizer(ada) and services.people.is_organizer(bob)
    services.people.revoke_organizer(bob, by=ada)
    assert not services.people.is_organizer(bob)
    granted = [e.by for e in services.store.events.get(ada) if type(e).__name__ == "OrganizerGranted"]
    assert granted == [organizer]
