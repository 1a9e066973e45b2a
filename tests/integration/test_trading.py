"""Trades and mentoring through the services and read models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from commonroom.domain.errors import NotAllowed
from commonroom.platform.trading import circles_for, suggestions_for
from commonroom.platform.services import SYSTEM_ACTOR
from commonroom.projections import mentoring as mentoring_view
from commonroom.projections import trades as trades_view


def register(services, name: str, offers=(), wants=()):
    peer_id = services.people.register(name, f"{name.lower()}@example.org", "Audit", "correct horse").peer_id
    for skill in offers:
        services.people.offer_skill(peer_id, skill, by=peer_id)
    for skill in wants:
        services.people.want_skill(peer_id, skill, by=peer_id)
    return peer_id


def test_propose_accept_log_confirm_shows_in_both_ledgers(services, clock):
    # given Ada and Bob in an accepted trade
    ada, bob = register(services, "Ada"), register(services, "Bob")
    trade_id, _ = services.trades.propose(ada, bob, "SQL", "Python")
    services.trades.accept(trade_id, by=bob)
    today = clock.now().date()
    # when Ada logs a session she taught and Bob confirms; and Bob logs one that stays pending
    services.trades.log_session(trade_id, ada, "SQL", today - timedelta(days=3), 90, by=ada)
    services.trades.confirm_session(trade_id, "1", by=bob)
    services.trades.log_session(trade_id, bob, "Python", today, 30, by=bob)
    services.settle()
    # then only the confirmed session counts, as given for Ada and received for Bob
    ada_ledger = trades_view.ledger(services.engine, ada, today)
    bob_ledger = trades_view.ledger(services.engine, bob, today)
    assert (ada_ledger.given, ada_ledger.received, ada_ledger.given_90) == (90, 0, 90)
    assert bob_ledger.received_by_skill == {"SQL": 90}
    assert bob_ledger.per_trade[str(trade_id)] == {"given": 0, "received": 90}
    assert trades_view.trade(services.engine, trade_id).status == "active"


def test_sessions_older_than_ninety_days_count_in_total_but_not_in_the_recent_window(services, clock):
    ada, bob = register(services, "Ada"), register(services, "Bob")
    trade_id, _ = services.trades.propose(ada, bob, "SQL", "")
    services.trades.accept(trade_id, by=bob)
    today = clock.now().date()
    services.trades.log_session(trade_id, ada, "SQL", today - timedelta(days=120), 200, by=bob)
    services.trades.confirm_session(trade_id, "1", by=ada)
    services.settle()
    bob_ledger = trades_view.ledger(services.engine, bob, today)
    assert (bob_ledger.received, bob_ledger.received_90) == (200, 0)
    assert bob_ledger.lopsided


def test_notes_are_read_only_by_the_two_parties(services):
    ada, bob, eve = register(services, "Ada"), register(services, "Bob"), register(services, "Eve")
    services.people.grant_organizer(eve, by=SYSTEM_ACTOR)
    trade_id, _ = services.trades.propose(ada, bob, "SQL", "Python")
    services.trades.add_note(trade_id, "Bob is shy about his Python", by=ada)
    services.settle()
    row = trades_view.trade(services.engine, trade_id)
    assert [n.text for n in trades_view.notes_for(services.engine, row, bob)] == ["Bob is shy about his Python"]
    assert trades_view.notes_for(services.engine, row, eve) == []
    assert trades_view.notes_for(services.engine, row, None) == []
    with pytest.raises(NotAllowed):
        services.trades.add_note(trade_id, "organizer peeking", by=eve)


def test_suggestions_and_circles_come_from_the_read_models(services):
    # given Ada<->Bob reciprocal, and a circle Cat -> Dan -> Fay -> Cat with no pair among them
    ada = register(services, "Ada", offers=["SQL"], wants=["Python"])
    register(services, "Bob", offers=["Python"], wants=["SQL"])
    cat = register(services, "Cat", offers=["Go"], wants=["Excel"])
    register(services, "Dan", offers=["Rust"], wants=["Go"])
    register(services, "Fay", offers=["Excel"], wants=["Rust"])
    services.settle()
    assert [s.name for s in suggestions_for(services.engine, ada)] == ["Bob"]
    assert suggestions_for(services.engine, cat) == []
    [circle] = circles_for(services.engine, cat)
    assert (circle.names, circle.skills) == (["Cat", "Dan", "Fay"], ["Go", "Rust", "Excel"])


def test_opting_out_removes_a_peer_from_suggestions(services):
    ada = register(services, "Ada", offers=["SQL"], wants=["Python"])
    bob = register(services, "Bob", offers=["Python"], wants=["SQL"])
    services.trades.update_profile(bob, "", "", True, 3)
    services.settle()
    assert suggestions_for(services.engine, ada) == []
    assert trades_view.profile(services.engine, bob).opted_out


def test_a_mentorship_is_paired_by_an_organizer_and_flagged_when_quiet(services, clock):
    # given a programme with a mentor and an applicant
    org = register(services, "Olga")
    services.people.grant_organizer(org, by=SYSTEM_ACTOR)
    mentor, mentee = register(services, "Mia"), register(services, "Ned")
    programme_id, _ = services.mentoring.start_programme("Fellows", "", by=org)
    services.mentoring.join_as_mentor(programme_id, mentor, "SQL, Python", "Audit", "English", "Europe/London", 2)
    services.mentoring.apply(programme_id, mentee, "Learn SQL well", "SQL", "Audit", "English", "Europe/Paris")
    # when matching proposes the mentor and the organizer confirms
    [match] = services.mentoring.proposals(programme_id, mentee)
    assert match.mentor_id == str(mentor)
    with pytest.raises(NotAllowed):
        services.mentoring.pair(programme_id, mentor, mentee, by=mentee)
    mentorship_id, _ = services.mentoring.pair(programme_id, mentor, mentee, by=org)
    today = clock.now().date()
    services.mentoring.log_contact(mentorship_id, today, 30, "call", "", by=mentee)
    services.settle()
    # then it is healthy now, quiet three weeks later, and ends with an outcome
    assert mentoring_view.quiet_pairs(services.engine, today) == []
    assert [m.id for m in mentoring_view.quiet_pairs(services.engine, today + timedelta(days=21))] == [
        str(mentorship_id)]
    services.mentoring.end(mentorship_id, "goals met", "Ned writes SQL now", by=mentor)
    services.settle()
    assert mentoring_view.mentorship(services.engine, mentorship_id).outcome == "goals met"
    assert mentoring_view.quiet_pairs(services.engine, today + timedelta(days=30)) == []


def test_a_rebuild_gives_the_same_trades_read_model(services, clock):
    ada, bob = register(services, "Ada"), register(services, "Bob")
    trade_id, _ = services.trades.propose(ada, bob, "SQL", "Python")
    services.trades.counter(trade_id, "Rust", by=bob)
    services.trades.accept(trade_id, by=ada)
    services.trades.log_session(trade_id, bob, "Rust", date(2026, 1, 5), 40, by=ada)
    services.trades.confirm_session(trade_id, "1", by=bob)
    services.settle()
    before = trades_view.ledger(services.engine, ada, date(2026, 2, 1))
    services.projector.rebuild(["trades"])
    assert trades_view.ledger(services.engine, ada, date(2026, 2, 1)) == before
    assert trades_view.trade(services.engine, trade_id).want == "Rust"


def knowledge_views(services):
    """The graph and expertise read models, run over the same log (whether or not bootstrap lists them)."""
    from commonroom.projections.expertise import ExpertiseView
    from commonroom.projections.graph import GraphView
    from commonroom.projections.runner import Projector

    views = [v for v in services.projector.views if v.name in ("graph", "expertise")] or [GraphView(), ExpertiseView()]
    projector = Projector(services.projector.engine, services.store.recorder, services.store.mapper, views)
    projector.setup()
    projector.catch_up()


def test_confirmed_sessions_and_mentoring_contacts_feed_the_graph_and_expertise(services, clock):
    import sqlalchemy as sa

    from commonroom.projections.expertise import EvidenceRow
    from commonroom.projections.graph import LearningEdgeRow

    # given a trade with a confirmed session, a pending one, and a corrected one; and a mentoring contact
    ada, bob, org = register(services, "Ada"), register(services, "Bob"), register(services, "Olga")
    services.people.grant_organizer(org, by=SYSTEM_ACTOR)
    trade_id, _ = services.trades.propose(ada, bob, "SQL", "Python")
    services.trades.accept(trade_id, by=bob)
    day = clock.now().date()
    services.trades.log_session(trade_id, ada, "SQL", day, 90, by=ada)
    services.trades.confirm_session(trade_id, "1", by=bob)
    services.trades.log_session(trade_id, bob, "Python", day, 30, by=bob)
    services.trades.log_session(trade_id, bob, "Python", day, 60, by=ada)
    services.trades.confirm_session(trade_id, "3", by=bob)
    services.trades.correct_session(trade_id, "3", bob, "Python", day, 45, by=ada)
    programme_id, _ = services.mentoring.start_programme("Fellows", "", by=org)
    services.mentoring.join_as_mentor(programme_id, org, "Audit", "", "English", "UTC", 1)
    services.mentoring.apply(programme_id, ada, "Audit better", "Audit", "", "English", "UTC")
    mentorship_id, _ = services.mentoring.pair(programme_id, org, ada, by=org)
    services.mentoring.log_contact(mentorship_id, day, 30, "call", "", by=ada)
    # when the knowledge views read the log
    knowledge_views(services)
    with services.engine.connect() as c:
        edges = c.execute(sa.select(LearningEdgeRow.teacher_id, LearningEdgeRow.learner_id, LearningEdgeRow.topic,
                                    LearningEdgeRow.source_type, LearningEdgeRow.weight)
                          .where(LearningEdgeRow.valid_to.is_(None))).all()
        evidence = c.execute(sa.select(EvidenceRow.peer_id, EvidenceRow.skill, EvidenceRow.kind)
                             .where(EvidenceRow.valid_to.is_(None), EvidenceRow.source_type != "profile")).all()
    # then only standing confirmed teaching counts (not the pending or the corrected session)
    assert sorted(edges) == sorted([(str(ada), str(bob), "SQL", "trade", 1.5),
                                    (str(org), str(ada), "Audit", "mentoring", 0.5)])
    assert sorted(evidence) == sorted([(str(ada), "SQL", "trade_taught"), (str(org), "Audit", "mentored")])


def test_the_circle_index_is_reused_until_the_read_models_move_on(services):
    # given a circle search that found nothing
    cat = register(services, "Cat", offers=["Go"], wants=["Excel"])
    register(services, "Dan", offers=["Rust"], wants=["Go"])
    services.settle()
    assert circles_for(services.engine, cat) == []
    # when the missing member joins
    register(services, "Fay", offers=["Excel"], wants=["Rust"])
    services.settle()
    # then the next search sees them
    assert [c.names for c in circles_for(services.engine, cat)] == [["Cat", "Dan", "Fay"]]
