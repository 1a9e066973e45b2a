"""The expertise directory on SQLite and PostgreSQL: ranking with hand-built histories, decay,
alias merges, endorsements and demand."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from commonroom.domain.errors import NotAllowed
from commonroom.domain.skills import HALF_LIFE_DAYS, decayed
from commonroom.platform import directory as d
from directory_given import a_peer, a_talk_held, an_organizer


def names(ranked) -> list[str]:
    return [r.person.name for r in ranked]


def test_speaker_of_a_well_attended_talk_outranks_one_with_a_smaller_audience_and_a_mere_offer(services, clock):
    # given three people who know Rust in different ways, and three learners
    an_organizer(services)
    learners = [a_peer(services, f"Learner {n}") for n in "XYZ"]
    big = a_peer(services, "Ada Big")
    small = a_peer(services, "Bo Small")
    a_peer(services, "Cy Offers", offers=["Rust"])
    a_talk_held(services, clock, big, ["Rust"], attendees=learners, ratings=[5, 5, 5], days_ago=20)
    a_talk_held(services, clock, small, ["rust"], attendees=learners[:1], ratings=[3], days_ago=20)
    # when the directory ranks Rust
    ranked = d.rank(services.engine, "rust")
    # then the bigger, better-rated talk comes first, then the smaller one, then the offer;
    # the learners follow with their weaker attendance signal
    assert names(ranked)[:3] == ["Ada Big", "Bo Small", "Cy Offers"]
    assert set(names(ranked)[3:]) == {"Learner X", "Learner Y", "Learner Z"}
    # and every score is the sum of its explained contributions
    top = ranked[0]
    assert [i.kind for i in top.items] == ["talk_given"]
    assert top.items[0].weight == pytest.approx(2 + 0.5 * 3 + (5 - 3))
    assert top.score == pytest.approx(sum(i.contribution for i in top.items))
    assert "3 attended, mean rating 5.0" in top.items[0].detail


def test_recent_evidence_outranks_the_same_evidence_from_long_ago(services, clock):
    # given two identical talks on SQL, one ten months ago and one last week
    an_organizer(services)
    learner = a_peer(services, "Lee Learner")
    old = a_peer(services, "Olga Old")
    new = a_peer(services, "Nina New")
    a_talk_held(services, clock, old, ["SQL"], attendees=[learner], days_ago=300)
    a_talk_held(services, clock, new, ["SQL"], attendees=[learner], days_ago=7)
    # when ranked
    ranked = [r for r in d.rank(services.engine, "sql") if r.person.name != "Lee Learner"]
    # then the recent one is first, and the old one decayed by half per half-life between them
    assert names(ranked) == ["Nina New", "Olga Old"]
    new_item, old_item = ranked[0].items[0], ranked[1].items[0]
    gap_days = (new_item.evidence_at - old_item.evidence_at).total_seconds() / 86400
    assert gap_days > 250
    assert ranked[1].score / ranked[0].score == pytest.approx(0.5 ** (gap_days / HALF_LIFE_DAYS))


def test_decay_is_measured_from_the_reference_moment(services, clock):
    an_organizer(services)
    learner = a_peer(services, "Lee Learner")
    speaker = a_peer(services, "Sam Speaker")
    a_talk_held(services, clock, speaker, ["Excel"], attendees=[learner], days_ago=30)
    item = d.rank(services.engine, "excel")[0].items[0]
    later = item.evidence_at.replace(year=item.evidence_at.year + 1)
    ranked_later = d.rank(services.engine, "excel", reference=later)[0]
    assert ranked_later.score == pytest.approx(decayed(item.weight, item.evidence_at, later))


def test_a_merged_alias_counts_for_the_skill_it_was_merged_into(services):
    # given Ann offers Kubernetes and Bob offers k8s, Bob also a second time as "K8S!"
    organizer = an_organizer(services)
    a_peer(services, "Ann Kube", offers=["Kubernetes"])
    a_peer(services, "Bob Kate", offers=["k8s", "Docker"])
    services.settle()
    assert names(d.rank(services.engine, "kubernetes")) == ["Ann Kube"]
    # when an organizer merges k8s into Kubernetes
    services.settle(services.directory.merge_alias("k8s", "Kubernetes", by=organizer))
    # then both count for Kubernetes, and searching by the alias finds the same people
    assert names(d.rank(services.engine, "kubernetes")) == ["Ann Kube", "Bob Kate"]
    assert names(d.rank(services.engine, "k8s")) == ["Ann Kube", "Bob Kate"]
    assert d.find_skills(services.engine, "k8") == ["kubernetes"]
    overview = {s.key: s for s in d.skill_overview(services.engine)}
    assert "k8s" not in overview and overview["kubernetes"].offerers == 2


def test_only_organizers_merge_aliases(services):
    an_organizer(services)
    someone = a_peer(services, "Sue Someone")
    with pytest.raises(NotAllowed):
        services.directory.merge_alias("k8s", "Kubernetes", by=someone)


def test_search_matches_prefixes_words_and_misspellings(services):
    a_peer(services, "Pat Python", offers=["Python", "Machine learning", "Power BI"])
    services.settle()
    assert d.find_skills(services.engine, "pyth") == ["python"]
    assert d.find_skills(services.engine, "learn") == ["machine learning"]
    assert d.find_skills(services.engine, "Pyhton") == ["python"]
    assert d.find_skills(services.engine, "zzz") == []


def test_an_attendee_may_endorse_the_speaker_and_the_endorsement_is_evidence(services, clock):
    # given Bob attended Ann's talk; Cat did not
    an_organizer(services)
    ann = a_peer(services, "Ann Archer")
    bob = a_peer(services, "Bob Baker")
    cat = a_peer(services, "Cat Cole")
    a_talk_held(services, clock, ann, ["Python"], attendees=[bob], days_ago=5)
    # when Cat tries to endorse Ann she is refused; Bob may
    with pytest.raises(NotAllowed):
        services.directory.endorse(cat, ann, "Python", "")
    services.settle(services.directory.endorse(bob, ann, "Testing", "Showed me pytest fixtures"))
    # then the endorsement is evidence for Ann's Testing skill, and on both profiles
    ranked = d.rank(services.engine, "testing")
    assert names(ranked) == ["Ann Archer"] and ranked[0].items[0].kind == "endorsement"
    assert "Showed me pytest fixtures" in ranked[0].items[0].detail
    ann_profile = d.profile(services.engine, str(ann))
    bob_profile = d.profile(services.engine, str(bob))
    assert [(e.skill, who.name) for e, who in ann_profile.endorsements_received] == [("Testing", "Bob Baker")]
    assert [(e.skill, who.name) for e, who in bob_profile.endorsements_given] == [("Testing", "Ann Archer")]


def test_endorsing_again_replaces_the_earlier_endorsement_and_withdrawing_removes_it(services, clock):
    an_organizer(services)
    ann = a_peer(services, "Ann Archer")
    bob = a_peer(services, "Bob Baker")
    a_talk_held(services, clock, ann, ["Python"], attendees=[bob], days_ago=5)
    services.directory.endorse(bob, ann, "Python", "")
    services.settle(services.directory.endorse(bob, ann, "SQL", "Better at SQL"))
    assert [e.skill for e, _ in d.profile(services.engine, str(ann)).endorsements_received] == ["SQL"]
    assert [i.kind for i in d.rank(services.engine, "python")[0].items] == ["talk_given"]
    services.settle(services.directory.withdraw_endorsement(bob, ann))
    assert d.profile(services.engine, str(ann)).endorsements_received == []
    assert d.rank(services.engine, "sql") == []


def test_demand_lists_who_wants_a_skill_and_unoffered_skills_become_talk_ideas(services):
    # given two people want Rust and nobody offers it; one wants Python, which Pat offers
    a_peer(services, "Pat Python", "IT", offers=["Python"])
    a_peer(services, "Wes Wants", "Tax", wants=["Rust", "Python"])
    a_peer(services, "Val Wants", "Audit", wants=["rust"])
    services.settle()
    # then
    assert [p.name for p in d.wanters(services.engine, "rust")] == ["Val Wants", "Wes Wants"]
    assert [p.name for p in d.wanters(services.engine, "rust", department="Tax")] == ["Wes Wants"]
    ideas = d.talk_ideas(d.skill_overview(services.engine))
    assert [(i.label, i.wanters) for i in ideas] == [("Rust", 2)]


def test_a_withdrawn_offer_and_a_deactivated_peer_no_longer_count(services):
    pat = a_peer(services, "Pat Python", offers=["Python"])
    quinn = a_peer(services, "Quinn Quit", offers=["Python"])
    services.people.withdraw_skill(pat, "Python", by=pat)
    services.settle(services.people.deactivate(quinn, by=quinn))
    assert d.rank(services.engine, "python") == []


def test_profile_lists_talks_given_and_attended(services, clock):
    an_organizer(services)
    ann = a_peer(services, "Ann Archer", offers=["Python"], wants=["Go"])
    bob = a_peer(services, "Bob Baker")
    a_talk_held(services, clock, ann, ["Python"], attendees=[bob], title="Python for auditors", days_ago=5)
    ann_profile = d.profile(services.engine, str(ann))
    assert ann_profile.offers == ["Python"] and ann_profile.wants == ["Go"]
    assert [t.title for t in ann_profile.talks_given] == ["Python for auditors"]
    assert [t.title for t in d.profile(services.engine, str(bob)).talks_attended] == ["Python for auditors"]
    assert ann_profile.skills[0].skill == "Python"


def test_a_repeated_search_is_answered_from_the_cache_until_the_views_move(services):
    # given someone who offers Go
    an_organizer(services)
    a_peer(services, "Ann Go", offers=["Go"])
    services.settle()
    moment = datetime.now(timezone.utc)
    first = d.rank(services.engine, "go", reference=moment)
    cache = d._CACHES[services.engine]
    hits = cache.hits
    # when the same search runs again: one cache hit answers it, with the same ranking
    assert names(d.rank(services.engine, "go", reference=moment)) == names(first) == ["Ann Go"]
    assert cache.hits == hits + 1
    # and when someone else offers Go, the views have moved: the next search ranks again
    a_peer(services, "Bea Go", offers=["Go"])
    services.settle()
    assert names(d.rank(services.engine, "go", reference=moment)) == ["Ann Go", "Bea Go"]
