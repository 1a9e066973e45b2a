"""Peer and EmailClaim, in memory: validation, skills, the organizer role, deactivation."""

from __future__ import annotations

from datetime import timezone
from uuid import uuid4

import pytest

from commonroom.domain.errors import InvalidValue
from commonroom.domain.peer import EmailClaim, EmailTaken, Peer, PeerInactive, check_timezone, normalise_email


def a_peer(**overrides) -> Peer:
    peer_id = uuid4()
    fields = dict(id=peer_id, name="Ada Lovelace", email="ada@example.org", department="Audit",
                  timezone="Europe/London", password_hash="hash", by=peer_id)
    fields.update(overrides)
    return Peer(**fields)


def assert_events_record_actor_and_aware_time(events, by) -> None:
    assert events
    for e in events:
        assert e.by == by
        assert e.timestamp.tzinfo is not None and e.timestamp.utcoffset() is not None


def test_registration_records_who_registered_with_an_aware_timestamp():
    peer = a_peer()
    events = peer.collect_events()
    assert [type(e) for e in events] == [Peer.Registered]
    assert_events_record_actor_and_aware_time(events, peer.id)
    assert events[0].timestamp.utcoffset() == timezone.utc.utcoffset(None)
    assert (peer.name, peer.email, peer.timezone, peer.active, peer.is_organizer) == (
        "Ada Lovelace", "ada@example.org", "Europe/London", True, False)


def test_validation_strips_and_collapses_whitespace():
    assert Peer.validate("  Ada   Lovelace ", " Audit ", "UTC") == ("Ada Lovelace", "Audit", "UTC")


@pytest.mark.parametrize(("name", "department", "tz", "field"), [
    ("", "Audit", "UTC", "name"),
    ("   ", "Audit", "UTC", "name"),
    ("x" * 81, "Audit", "UTC", "name"),
    (None, "Audit", "UTC", "name"),
    ("Ada", "", "UTC", "department"),
    ("Ada", 7, "UTC", "department"),
    ("Ada", "Audit", "Mars/Olympus", "timezone"),
    ("Ada", "Audit", "", "timezone"),
])
def test_invalid_profile_values_name_their_field(name, department, tz, field):
    with pytest.raises(InvalidValue) as error:
        Peer.validate(name, department, tz)
    assert error.value.field == field
    assert error.value.status == 422


@pytest.mark.parametrize("email", ["", "ada", "ada@", "@example.org", "ada@example", "a da@example.org", 42])
def test_malformed_emails_are_refused_naming_the_email_field(email):
    with pytest.raises(InvalidValue) as error:
        normalise_email(email)
    assert error.value.field == "email"


def test_emails_are_normalised_to_lower_case_without_surrounding_space():
    assert normalise_email("  Ada@Example.ORG ") == "ada@example.org"


def test_known_timezones_pass_and_unknown_ones_fail():
    assert check_timezone("Asia/Tokyo") == "Asia/Tokyo"
    with pytest.raises(InvalidValue):
        check_timezone("Europe/Atlantis")


def test_skills_are_offered_once_ignoring_case_and_can_be_withdrawn():
    peer = a_peer()
    peer.collect_events()
    # when the same skill is offered twice in different case
    peer.offer_skill("  Python ", by=peer.id)
    peer.offer_skill("python", by=peer.id)
    # then it is recorded once, trimmed
    assert peer.offers == ["Python"]
    peer.withdraw_skill("Python", by=peer.id)
    peer.withdraw_skill("Python", by=peer.id)  # withdrawing again changes nothing
    assert peer.offers == []
    events = peer.collect_events()
    assert [type(e) for e in events] == [Peer.SkillOffered, Peer.SkillWithdrawn]
    assert_events_record_actor_and_aware_time(events, peer.id)


def test_wanted_skills_are_kept_once_and_can_be_dropped():
    peer = a_peer()
    peer.collect_events()
    peer.want_skill("Rust", by=peer.id)
    peer.want_skill("RUST", by=peer.id)
    assert peer.wants == ["Rust"]
    peer.drop_wanted_skill("Rust", by=peer.id)
    peer.drop_wanted_skill("Go", by=peer.id)
    assert peer.wants == []
    assert [type(e) for e in peer.collect_events()] == [Peer.SkillWanted, Peer.WantedSkillDropped]


@pytest.mark.parametrize("skill", ["", "   ", "s" * 61, None])
def test_blank_or_overlong_skills_are_refused(skill):
    peer = a_peer()
    with pytest.raises(InvalidValue) as error:
        peer.offer_skill(skill, by=peer.id)
    assert error.value.field == "skill"
    with pytest.raises(InvalidValue):
        peer.want_skill(skill, by=peer.id)


def test_the_organizer_role_is_granted_and_revoked_once_each_recording_who_did_it():
    peer, organizer = a_peer(), uuid4()
    peer.collect_events()
    peer.grant_organizer(by=organizer)
    peer.grant_organizer(by=organizer)
    assert peer.is_organizer
    peer.revoke_organizer(by=organizer)
    peer.revoke_organizer(by=organizer)
    assert not peer.is_organizer
    events = peer.collect_events()
    assert [type(e) for e in events] == [Peer.OrganizerGranted, Peer.OrganizerRevoked]
    assert_events_record_actor_and_aware_time(events, organizer)


def test_a_deactivated_peer_cannot_change_profile_or_be_deactivated_again():
    peer = a_peer()
    peer.deactivate(by=peer.id)
    assert not peer.active
    with pytest.raises(PeerInactive):
        peer.deactivate(by=peer.id)
    with pytest.raises(PeerInactive):
        peer.change_profile("Ada", "ada@example.org", "Audit", "UTC", by=peer.id)
    with pytest.raises(PeerInactive):
        peer.check_active()


def test_profile_and_password_changes_are_recorded_with_the_actor():
    peer = a_peer()
    peer.collect_events()
    peer.change_profile("Ada King", "ada.king@example.org", "Research", "Asia/Tokyo", by=peer.id)
    peer.change_password(password_hash="new", by=peer.id)
    assert (peer.name, peer.email, peer.department, peer.timezone, peer.password_hash) == (
        "Ada King", "ada.king@example.org", "Research", "Asia/Tokyo", "new")
    events = peer.collect_events()
    assert [type(e) for e in events] == [Peer.ProfileChanged, Peer.PasswordChanged]
    assert_events_record_actor_and_aware_time(events, peer.id)


def test_an_email_claim_has_a_deterministic_id_per_normalised_email():
    assert EmailClaim.create_id("ada@example.org") == EmailClaim.create_id("ada@example.org")
    assert EmailClaim.create_id("ada@example.org") != EmailClaim.create_id("bob@example.org")
    claim = EmailClaim(email="ada@example.org", peer_id=uuid4(), by=uuid4())
    assert claim.id == EmailClaim.create_id("ada@example.org")


def test_a_held_claim_cannot_be_claimed_again_but_a_released_one_can():
    first, second = uuid4(), uuid4()
    claim = EmailClaim(email="ada@example.org", peer_id=first, by=first)
    with pytest.raises(EmailTaken) as error:
        claim.claim_again(second, by=second)
    assert error.value.field == "email" and error.value.status == 409
    claim.release(by=first)
    assert claim.peer_id is None
    claim.claim_again(second, by=second)
    assert claim.peer_id == second
    events = claim.collect_events()
    assert [type(e) for e in events] == [EmailClaim.Claimed, EmailClaim.Released, EmailClaim.Reclaimed]
    assert [e.by for e in events] == [first, first, second]
    assert all(e.timestamp.tzinfo is not None for e in events)
