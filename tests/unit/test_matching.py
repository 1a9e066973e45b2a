"""Matching on hand-built populations with known answers (no database)."""

from __future__ import annotations

import random
import time

from commonroom.platform.trading import Candidate, SkillIndex, find_circles, suggest


def peer(name: str, offers=(), wants=(), **extra) -> Candidate:
    return Candidate(name, name, offers=set(offers), wants=set(wants), **extra)


def test_a_reciprocal_pair_is_suggested_with_an_explanation():
    index = SkillIndex([peer("ada", ["sql"], ["python"]), peer("bob", ["python"], ["sql"]),
                        peer("cy", ["python"], ["rust"])])
    [only] = suggest(index, "ada")
    assert (only.peer_id, only.they_teach, only.you_teach) == ("bob", ["python"], ["sql"])
    assert "bob can teach you python; you can teach them sql" in only.reason


def test_one_way_matches_are_not_suggested_as_pairs():
    index = SkillIndex([peer("ada", ["sql"], ["python"]), peer("cy", ["python"], ["rust"]),
                        peer("dee", ["go"], ["sql"])])
    assert suggest(index, "ada") == []


def test_more_shared_skills_rank_first_then_the_more_balanced_partner():
    index = SkillIndex([
        peer("ada", ["sql", "excel"], ["python", "r"]),
        peer("bob", ["python"], ["sql"], balance=600),
        peer("cy", ["python", "r"], ["sql", "excel"]),
        peer("dee", ["python"], ["sql"], balance=0),
    ])
    assert [s.peer_id for s in suggest(index, "ada")] == ["cy", "dee", "bob"]


def test_a_partner_after_the_same_desired_position_is_never_suggested():
    index = SkillIndex([peer("ada", ["sql"], ["python"], desired_position="Head of Audit"),
                        peer("bob", ["python"], ["sql"], desired_position="head of audit "),
                        peer("cy", ["python"], ["sql"], desired_position="Data lead")])
    assert [s.peer_id for s in suggest(index, "ada")] == ["cy"]


def test_opted_out_and_full_peers_are_left_out():
    index = SkillIndex([peer("ada", ["sql"], ["python"]),
                        peer("bob", ["python"], ["sql"], opted_out=True),
                        peer("cy", ["python"], ["sql"], max_active=2, active_trades=2),
                        peer("dee", ["python"], ["sql"], max_active=2, active_trades=1)])
    assert [s.peer_id for s in suggest(index, "ada")] == ["dee"]


def test_a_three_cycle_is_found_where_no_pair_exists():
    # ada teaches bob sql, bob teaches cy go, cy teaches ada python
    index = SkillIndex([peer("ada", ["sql"], ["python"]), peer("bob", ["go"], ["sql"]),
                        peer("cy", ["python"], ["go"]), peer("noise", ["knitting"], ["sql"])])
    assert suggest(index, "ada") == []
    [circle] = find_circles(index, "ada")
    assert (circle.members, circle.skills) == (["ada", "bob", "cy"], ["sql", "go", "python"])
    assert circle.reason == "ada teaches sql → bob teaches go → cy teaches python"


def test_a_four_cycle_is_found_when_no_three_cycle_exists():
    index = SkillIndex([peer("ada", ["a"], ["d"]), peer("bob", ["b"], ["a"]), peer("cy", ["c"], ["b"]),
                        peer("dee", ["d"], ["c"])])
    [circle] = find_circles(index, "ada")
    assert circle.members == ["ada", "bob", "cy", "dee"]


def test_circles_skip_rivals_and_opted_out_peers():
    members = [peer("ada", ["sql"], ["python"], desired_position="Lead"), peer("bob", ["go"], ["sql"]),
               peer("cy", ["python"], ["go"], desired_position="lead")]
    assert find_circles(SkillIndex(members), "ada") == []
    members[2] = peer("cy", ["python"], ["go"], opted_out=True)
    assert find_circles(SkillIndex(members), "ada") == []


def population(size: int, skills: int = 300, seed: int = 7) -> list[Candidate]:
    rng = random.Random(seed)
    names = [f"skill-{i}" for i in range(skills)]
    return [peer(f"p{i}", rng.sample(names, 3), rng.sample(names, 3),
                 desired_position=rng.choice(["", "", "lead", "manager"])) for i in range(size)]


def test_matching_five_thousand_peers_touches_only_those_sharing_a_skill(capsys):
    # given 5,000 generated peers; when one suggestion query and one circle search run
    index = SkillIndex(population(5000))
    started = time.perf_counter()
    pairs = suggest(index, "p0")
    circles = find_circles(index, "p0")
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nmatching 5,000 peers: {len(pairs)} pairs + {len(circles)} circles in {elapsed * 1000:.1f} ms")
    # then every answer is genuinely reciprocal / a real cycle (timing is reported, never asserted)
    me = index.peers["p0"]
    for s in pairs:
        other = index.peers[s.peer_id]
        assert other.offers & me.wants and me.offers & other.wants
    for circle in circles:
        ring = [index.peers[m] for m in circle.members]
        assert all(a.offers & b.wants for a, b in zip(ring, ring[1:] + ring[:1]))
