"""Skill keys, alias merges, endorsements and the decay, in memory."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from commonroom.domain.errors import InvalidValue, NotAllowed
from commonroom.domain.skills import (
    HALF_LIFE_DAYS, AliasTaken, Endorsement, EndorsementNotActive, SkillCatalog, decayed, normalise_skill,
    resolve, talk_given_weight,
)

ORGANIZER = uuid4()


@pytest.mark.parametrize("typed", ["Kubernetes", "  kubernetes ", "KUBERNETES!", "Kubernetes."])
def test_case_spacing_and_punctuation_do_not_change_a_skill(typed):
    assert normalise_skill(typed) == "kubernetes"


@pytest.mark.parametrize("typed, key", [
    ("Node.js", "node js"), ("node-JS", "node js"), ("CI/CD", "ci cd"), ("C++", "c++"), ("C#", "c#"),
    ("Machine   learning", "machine learning"), ("Pillar Two!", "pillar two"),
])
def test_separators_become_single_spaces_but_plus_and_hash_stay(typed, key):
    assert normalise_skill(typed) == key


def test_evidence_loses_half_its_weight_every_half_life():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert decayed(4.0, now, now) == 4.0
    assert decayed(4.0, now - timedelta(days=HALF_LIFE_DAYS), now) == pytest.approx(2.0)
    assert decayed(4.0, now - timedelta(days=2 * HALF_LIFE_DAYS), now) == pytest.approx(1.0)


def test_evidence_from_after_the_reference_moment_is_not_boosted():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert decayed(1.0, now + timedelta(days=30), now) == 1.0


def test_a_talk_weighs_more_with_more_attendees_and_better_ratings():
    assert talk_given_weight(0, []) == 2.0
    assert talk_given_weight(4, []) == 4.0
    assert talk_given_weight(4, [5, 4]) == pytest.approx(5.5)
    assert talk_given_weight(0, [1]) == 0.5  # never below half a point


def test_merging_an_alias_records_an_event_with_both_keys():
    # given a catalog
    catalog = SkillCatalog(by=ORGANIZER)
    # when k8s is merged into Kubernetes
    catalog.merge_alias("k8s", "Kubernetes", by=ORGANIZER)
    # then the event carries the normalised keys and the label to show
    merged = catalog.collect_events()[-1]
    assert (merged.alias_key, merged.into_key, merged.into_label) == ("k8s", "kubernetes", "Kubernetes")
    assert catalog.id == SkillCatalog.create_id()


def test_merging_into_an_alias_points_at_the_canonical_skill():
    catalog = SkillCatalog(by=ORGANIZER)
    catalog.merge_alias("k8s", "Kubernetes", by=ORGANIZER)
    catalog.merge_alias("kube", "K8S", by=ORGANIZER)
    assert catalog.aliases == {"k8s": "kubernetes", "kube": "kubernetes"}


def test_merging_a_skill_into_itself_or_its_own_alias_is_refused():
    catalog = SkillCatalog(by=ORGANIZER)
    catalog.merge_alias("k8s", "Kubernetes", by=ORGANIZER)
    with pytest.raises(InvalidValue) as same:
        catalog.merge_alias("kubernetes", "k8s", by=ORGANIZER)
    assert same.value.field == "into"
    with pytest.raises(AliasTaken):
        catalog.merge_alias("K8s!", "Docker", by=ORGANIZER)


def test_an_alias_without_letters_is_refused_naming_the_field():
    with pytest.raises(InvalidValue) as error:
        SkillCatalog(by=ORGANIZER).merge_alias("!!!", "Kubernetes", by=ORGANIZER)
    assert error.value.field == "alias"


def test_resolve_follows_a_chain_of_merges_and_never_loops():
    assert resolve("a", {"a": "b", "b": "c"}) == "c"
    assert resolve("a", {"a": "b", "b": "a"}) in {"a", "b"}


def test_nobody_endorses_themselves():
    me = uuid4()
    with pytest.raises(NotAllowed):
        Endorsement.validate(me, me, "Python", "")


def test_an_endorsement_can_be_revised_and_withdrawn_once():
    # given an endorsement
    endorser, endorsee = uuid4(), uuid4()
    endorsement = Endorsement(endorser_id=endorser, endorsee_id=endorsee, skill="Python", sentence="", by=endorser)
    assert endorsement.id == Endorsement.create_id(endorser, endorsee)
    # when revised to the same thing nothing is recorded; a different skill is
    endorsement.revise("Python", "", by=endorser)
    endorsement.revise("SQL", "Taught me window functions", by=endorser)
    assert [type(e).__name__ for e in endorsement.collect_events()] == ["Given", "Revised"]
    # then it can be withdrawn, but only once
    endorsement.withdraw(by=endorser)
    with pytest.raises(EndorsementNotActive):
        endorsement.withdraw(by=endorser)
