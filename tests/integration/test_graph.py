"""The knowledge-sharing graph: edges from talks, filters, and networkx analytics on small graphs
whose answers can be worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from commonroom.platform import directory as d
from commonroom.platform.directory import Graph, Person, analyse
from directory_given import a_peer, a_talk_held, an_organizer


def people(*specs: str) -> list[Person]:
    """'A:Eng' -> Person A in Eng."""
    return [Person(s.split(":")[0], s.split(":")[0], s.split(":")[1], True) for s in specs]


def edge(teacher: str, learner: str, weight: float = 1.0) -> dict:
    return {"teacher": teacher, "learner": learner, "weight": weight, "topics": ["x"]}


def at(month: int) -> datetime:
    return datetime(2026, month, 15, tzinfo=timezone.utc)


# --- analytics on hand-built graphs ---------------------------------------------------------------
def test_the_middle_of_a_chain_is_the_only_broker_and_a_loner_is_isolated():
    # given A teaches B, B teaches C; D has learned nothing from anyone
    g = Graph(people("A:Eng", "B:Eng", "C:Ops", "D:Ops"), [edge("A", "B"), edge("B", "C")], [])
    # when analysed
    result = analyse(g)
    # then only B lies on a shortest path between others: 1 of (n-1)(n-2) = 6 ordered pairs
    assert [(p.id, b) for p, b in result.brokers] == [("B", pytest.approx(1 / 6, abs=1e-4))]
    assert [p.id for p in result.isolated] == ["D"]
    assert [[p.id for p in group] for group in result.communities] == [["A", "B", "C"]]


def test_two_triangles_joined_by_one_bridge_are_two_communities_and_the_bridge_ends_are_brokers():
    # given two tight triangles of mutual learning, joined by C -> D
    nodes = people("A:Eng", "B:Eng", "C:Eng", "D:Ops", "E:Ops", "F:Ops")
    triangle = lambda x, y, z: [edge(x, y), edge(y, z), edge(z, x)]  # noqa: E731
    g = Graph(nodes, triangle("A", "B", "C") + triangle("D", "E", "F") + [edge("C", "D")], [])
    # when analysed
    result = analyse(g)
    # then the communities are the triangles, and C and D broker between them
    assert sorted([p.id for p in group] for group in result.communities) == [["A", "B", "C"], ["D", "E", "F"]]
    assert {p.id for p, _ in result.brokers[:2]} == {"C", "D"}
    assert result.isolated == []


def test_the_tower_of_babel_measure_is_the_share_of_learning_across_departments_per_month():
    # given in March Ann (Eng) taught Bob (Eng) and Cat (Ops); in April Cat taught Bob twice as much
    nodes = people("Ann:Eng", "Bob:Eng", "Cat:Ops")
    facts = [("Ann", "Bob", 1.0, at(3)), ("Ann", "Cat", 1.0, at(3)), ("Cat", "Bob", 2.0, at(4))]
    g = Graph(nodes, [edge("Ann", "Bob"), edge("Ann", "Cat"), edge("Cat", "Bob", 2.0)], facts)
    # then half of March's learning crossed departments, and all of April's
    assert analyse(g).babel == [("2026-03", 1.0, 0.5), ("2026-04", 2.0, 1.0)]


def test_brokers_are_networkxs_betweenness_over_the_whole_graph_though_only_linked_people_are_searched():
    # given random graphs with many people who have no link (as in an organisation that has only
    # begun recording learning), weighted and not, with cycles and people who only teach or learn
    import random

    import networkx as nx

    rng = random.Random(11)
    for _ in range(150):
        n = rng.randint(1, 40)
        nodes = people(*(f"P{i}:D{i % 3}" for i in range(n)))
        edges = {}
        for _ in range(rng.randint(0, 30)):
            a, b = rng.randrange(n), rng.randrange(n)
            if a != b:
                edges[(a, b)] = edge(f"P{a}", f"P{b}", round(rng.uniform(0.5, 3), 2))
        g = Graph(nodes, list(edges.values()), [])
        whole = nx.DiGraph()
        whole.add_nodes_from(p.id for p in nodes)
        whole.add_edges_from((e["teacher"], e["learner"]) for e in g.edges)
        # when analysed, then the brokers are exactly those of networkx over every person
        expected = sorted(((p, round(b, 4)) for p, b in
                           ((next(x for x in nodes if x.id == k), v)
                            for k, v in nx.betweenness_centrality(whole, normalized=True).items()) if b > 0),
                          key=lambda pb: (-pb[1], pb[0].name))
        assert analyse(g).brokers == expected


def test_thousands_of_people_without_a_link_are_isolated_and_counted_by_department():
    # given 5,000 people, none of whom has taught or learned anything yet (networkx's betweenness
    # over all of them would set up 25 million table entries), and one pair that has
    nodes = people(*(f"P{i:04}:{'Audit' if i < 3000 else 'Tax' if i < 4500 else 'Advisory'}" for i in range(5000)))
    result = analyse(Graph(nodes, [edge("P0000", "P0001")], []))
    # then everyone else is isolated, counted by department, and nobody brokers
    assert len(result.isolated) == 4998 and result.brokers == []
    assert result.isolated_by_department == [("Audit", 2998), ("Tax", 1500), ("Advisory", 500)]


def test_an_empty_graph_has_no_communities_brokers_or_months():
    result = analyse(Graph(people("A:Eng"), [], []))
    assert (result.communities, result.brokers, result.babel) == ([], [], [])
    assert [p.id for p in result.isolated] == ["A"]


# --- edges from the event log ---------------------------------------------------------------------
def test_a_talk_attended_draws_speaker_to_attendee_edges_labelled_by_topic(services, clock):
    # given Ann spoke on Python and SQL; Bob came, Cat signed up but was marked absent
    an_organizer(services)
    ann = a_peer(services, "Ann Archer", "Engineering")
    bob = a_peer(services, "Bob Baker", "Operations")
    cat = a_peer(services, "Cat Cole", "Operations")
    talk = a_talk_held(services, clock, ann, ["Python", "SQL"], attendees=[bob, cat], days_ago=5)
    clock.set(datetime.now(timezone.utc).replace(year=datetime.now().year + 1))
    services.settle(services.talks.record_attendance(talk, {cat: False}, by=ann))
    clock.fixed = None
    # when the graph is read
    g = d.graph(services.engine)
    # then one edge Ann -> Bob, weight 1 (one talk), labelled with both topics
    assert g.edges == [{"teacher": str(ann), "learner": str(bob), "weight": 1.0, "topics": ["Python", "SQL"]}]
    assert {p.department for p in g.nodes} >= {"Engineering", "Operations"}


def test_the_graph_filters_by_topic_and_department_and_applies_alias_merges(services, clock):
    # given Ann taught Bob "k8s" and Cat taught Dan "Excel"; k8s is then merged into Kubernetes
    organizer = an_organizer(services)
    ann, bob = a_peer(services, "Ann", "Eng"), a_peer(services, "Bob", "Eng")
    cat, dan = a_peer(services, "Cat", "Tax"), a_peer(services, "Dan", "Tax")
    a_talk_held(services, clock, ann, ["k8s"], attendees=[bob], days_ago=5)
    a_talk_held(services, clock, cat, ["Excel"], attendees=[dan], days_ago=5)
    services.settle(services.directory.merge_alias("k8s", "Kubernetes", by=organizer))
    # then
    by_topic = d.graph(services.engine, topic="kubernetes")
    assert [(e["teacher"], e["learner"], e["topics"]) for e in by_topic.edges] == [(str(ann), str(bob), ["Kubernetes"])]
    by_department = d.graph(services.engine, department="Tax")
    assert {p.name for p in by_department.nodes} == {"Cat", "Dan"}
    assert [(e["teacher"], e["learner"]) for e in by_department.edges] == [(str(cat), str(dan))]


def test_revising_a_held_talks_topics_relabels_its_edges(services, clock):
    an_organizer(services)
    ann, bob = a_peer(services, "Ann", "Eng"), a_peer(services, "Bob", "Eng")
    talk = a_talk_held(services, clock, ann, ["Pyton"], attendees=[bob], days_ago=5)
    services.settle(services.talks.revise(talk, "All about Python", "", ["Python"], by=ann))
    assert d.graph(services.engine).edges[0]["topics"] == ["Python"]


def test_analytics_are_computed_once_per_graph_position_not_per_request(services, clock):
    # given a graph with one talk
    an_organizer(services)
    ann, bob = a_peer(services, "Ann", "Eng"), a_peer(services, "Bob", "Ops")
    a_talk_held(services, clock, ann, ["Python"], attendees=[bob], days_ago=5)
    cache = services.directory.analytics
    # when asked three times with nothing new
    first = cache.get()
    cache.get()
    cache.get()
    # then it was computed once
    assert cache.computed == 1
    assert first.babel[-1][2] == 1.0
    # and once more after the view moves
    cat = a_peer(services, "Cat", "Ops")
    services.settle()
    assert any(p.id == str(cat) for p in cache.get().isolated)
    assert cache.computed == 2
