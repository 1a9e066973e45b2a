"""MentoringProgramme and Mentorship rules, and mentor ranking, in memory."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from commonroom.domain.errors import InvalidValue, NotAllowed
from commonroom.domain.mentoring import (
    AlreadyPaired, MentoringProgramme, Mentorship, MentorshipEnded, validate_application, validate_mentor,
)
from commonroom.platform.trading import rank_mentors

ORG, MIA, MAX, NED = uuid4(), uuid4(), uuid4(), uuid4()
START = date(2026, 10, 1)


def mentor(skills="SQL", languages="English", timezone="Europe/London", capacity=1, background="Audit") -> dict:
    return validate_mentor(skills, background, languages, timezone, capacity)


def application(needs="SQL", languages="English", timezone="Europe/London", background="Audit") -> dict:
    return validate_application("Get fluent in SQL", needs, background, languages, timezone)


def programme_with_mia_and_ned() -> MentoringProgramme:
    programme = MentoringProgramme.start("Fellows", "", by=ORG)
    programme.join_as_mentor(MIA, mentor(), by=MIA)
    programme.apply(NED, application(), by=NED)
    return programme


def mentorship() -> Mentorship:
    return Mentorship(id=uuid4(), programme_id=uuid4(), mentor_id=MIA, mentee_id=NED, started_on=START,
                      topics=["SQL"], by=ORG)


def test_a_programme_needs_a_name():
    with pytest.raises(InvalidValue) as error:
        MentoringProgramme.start("", "", by=ORG)
    assert error.value.field == "name"


@pytest.mark.parametrize("args, field", [
    (("", "", "English", "UTC", 1), "skills"), (("SQL", "", "English", "Mars/Base", 1), "timezone"),
    (("SQL", "", "English", "UTC", 0), "capacity"), (("SQL", "", "English", "UTC", "2"), "capacity"),
])
def test_a_bad_mentor_profile_names_the_field(args, field):
    with pytest.raises(InvalidValue) as error:
        validate_mentor(*args)
    assert error.value.field == field


def test_an_application_needs_goals_and_needs():
    with pytest.raises(InvalidValue) as error:
        validate_application("", "SQL", "", "", "UTC")
    assert error.value.field == "goals"
    with pytest.raises(InvalidValue) as error:
        validate_application("Grow", "", "", "", "UTC")
    assert error.value.field == "needs"


def test_pairing_uses_mentor_capacity_and_one_mentor_per_mentee():
    programme = programme_with_mia_and_ned()
    programme.pair(MIA, NED, uuid4(), by=ORG)
    with pytest.raises(AlreadyPaired):
        programme.pair(MIA, NED, uuid4(), by=ORG)
    programme.apply(MAX, application(), by=MAX)
    with pytest.raises(InvalidValue) as error:
        programme.pair(MIA, MAX, uuid4(), by=ORG)
    assert error.value.field == "mentor"


def test_releasing_a_pair_frees_the_mentor():
    programme = programme_with_mia_and_ned()
    programme.pair(MIA, NED, uuid4(), by=ORG)
    programme.release(MIA, NED, by=ORG)
    assert programme.load[str(MIA)] == 0 and NED not in programme.paired


def test_a_mentor_cannot_also_apply_in_the_same_programme():
    programme = programme_with_mia_and_ned()
    with pytest.raises(InvalidValue):
        programme.apply(MIA, application(), by=MIA)


def test_the_pair_logs_contacts_of_known_kinds():
    pair = mentorship()
    pair.log_contact(START, 30, "document review", "CV", by=NED)
    assert pair.contacts == 1
    with pytest.raises(InvalidValue) as error:
        pair.log_contact(START, 30, "fax", "", by=NED)
    assert error.value.field == "kind"
    with pytest.raises(InvalidValue) as error:
        pair.log_contact(date(2026, 9, 1), 30, "call", "", by=NED)
    assert error.value.field == "on"


def test_only_the_pair_logs_contacts():
    with pytest.raises(NotAllowed):
        mentorship().log_contact(START, 30, "call", "", by=ORG)


def test_a_mentorship_ends_with_a_known_outcome_and_then_takes_no_contacts():
    pair = mentorship()
    with pytest.raises(InvalidValue):
        pair.end("great", "", by=MIA)
    pair.end("partly met", "we ran out of time", by=MIA)
    assert pair.outcome == "partly met"
    with pytest.raises(MentorshipEnded):
        pair.log_contact(START, 10, "email", "", by=NED)


def test_an_organizer_can_end_a_mentorship_for_the_pair():
    pair = mentorship()
    pair.end("stopped early", "", by=ORG, by_organizer=True)
    assert not pair.active


def test_mentors_rank_by_skills_language_time_zone_and_background():
    mentors = {
        "far": mentor(timezone="Asia/Tokyo"),
        "near": mentor(),
        "other-skill": mentor(skills="Rust"),
        "no-common-language": mentor(languages="Finnish"),
        "full": mentor(capacity=1),
    }
    ranked = rank_mentors(application(), mentors, load={"full": 1}, names={})
    assert [m.mentor_id for m in ranked] == ["near", "far"]
    assert "skills: sql" in ranked[0].reasons and "speaks english" in ranked[0].reasons
