"""The expertise and graph views keep a batch's rows in memory, and the directory caches its reads
by view position: neither may change an answer. Whether events arrive one at a time or in one
batch, the rows are the same; a directory answer follows the views the moment they move."""

from __future__ import annotations

import sqlalchemy as sa

from commonroom.platform import directory as d
from commonroom.projections.expertise import ExpertiseView
from commonroom.projections.graph import GraphView
from directory_given import a_peer, a_talk_held, an_organizer


def rows_of_both_views(services) -> dict[str, list[tuple]]:
    with services.projector.engine.connect() as c:
        return {table.__tablename__: sorted(tuple(str(v) for v in row) for row in c.execute(sa.select(table)))
                for table in ExpertiseView.tables + GraphView.tables}


def test_a_talk_whose_every_event_lands_in_one_batch_gets_the_rows_it_got_event_by_event(services, clock):
    # given a talk held, rated, one attendee then marked absent, its topics revised and an
    # endorsement, each command projected on its own (a batch of one or a few events)
    an_organizer(services)
    speaker = a_peer(services, "Sam Speaker", "Engineering", offers=["Python"])
    learners = [a_peer(services, f"Learner {n}", "Tax", wants=["Python"]) for n in "ABC"]
    talk = a_talk_held(services, clock, speaker, ["Python", "Testing"], attendees=learners, ratings=[5, 3, 4])
    services.settle(services.talks.record_attendance(talk, {learners[2]: False}, by=speaker))
    services.settle(services.talks.revise(talk, "Python, tested", "", ["Python", "pytest"], by=speaker))
    services.settle(services.directory.endorse(learners[0], speaker, "Python", "Patient and clear"))
    live = rows_of_both_views(services)
    # when both views are rebuilt, every event of the history in one batch
    services.projector.rebuild(["expertise", "graph"])
    # then they hold exactly the rows they built event by event
    assert rows_of_both_views(services) == live
    assert live["expertise_evidence"] and live["learning_edges"] and live["talk_versions"] and live["talk_seat_changes"]


def test_directory_answers_follow_the_views_as_soon_as_they_move(services, clock):
    # given a directory read once (and so cached)
    an_organizer(services)
    ann = a_peer(services, "Ann Archer", "Engineering", offers=["Go"])
    services.settle()
    assert [r.person.name for r in d.rank(services.engine, "go")] == ["Ann Archer"]
    assert [s.key for s in d.skill_overview(services.engine)] == ["go"]
    assert d.graph(services.engine).edges == []
    # when another peer offers Go and attends Ann's talk on it
    bob = a_peer(services, "Bob Baker", "Operations", offers=["Go"])
    a_talk_held(services, clock, ann, ["Go"], attendees=[bob], ratings=[4])
    services.settle()
    # then the same reads show it at once
    assert [r.person.name for r in d.rank(services.engine, "go")] == ["Ann Archer", "Bob Baker"]
    assert d.skill_overview(services.engine)[0].knowers == 2
    assert d.departments(services.engine) == ["Engineering", "Operations"]
    assert [(e["teacher"], e["learner"]) for e in d.graph(services.engine).edges] == [(str(ann), str(bob))]


def test_a_graph_handed_out_can_be_changed_without_changing_the_next_answer(services, clock):
    # given a graph with one edge, read from the cache
    an_organizer(services)
    ann, bob = a_peer(services, "Ann Archer"), a_peer(services, "Bob Baker")
    a_talk_held(services, clock, ann, ["Go"], attendees=[bob])
    first = d.graph(services.engine)
    # when a caller changes what it was given
    first.edges[0]["topics"].append("scribbled")
    first.nodes.clear()
    # then the next reader gets the graph as it is
    again = d.graph(services.engine)
    assert again.edges[0]["topics"] == ["Go"] and len(again.nodes) == 3
