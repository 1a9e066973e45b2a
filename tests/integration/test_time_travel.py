"""Time travel: every directory query "as of" a moment equals the same query on read models
rebuilt from only the events recorded up to that moment (a fresh store fed the log's prefix)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from commonroom.platform import directory as d
from commonroom.platform.bootstrap import bootstrap
from directory_given import a_peer, a_talk_held, an_organizer
from support import next_weekday


def snapshot(engine, at, reference) -> dict:
    """Everything the directory, graph, profiles and schedule show, as plain values."""
    overview = d.skill_overview(engine, at)
    g = d.graph(engine, at)
    analysis = d.analyse(g)
    people = [p.id for p in g.nodes]

    def ranked(skill):
        return [(r.person.name, round(r.score, 6), [(i.kind, i.detail, round(i.contribution, 6)) for i in r.items])
                for r in d.rank(engine, skill, at, reference=reference)]

    def profile(peer_id):
        p = d.profile(engine, peer_id, at, reference=reference)
        return None if p is None else (
            p.person, p.offers, p.wants, [(s.skill, round(s.score, 6)) for s in p.skills],
            [(t.title, t.status) for t in p.talks_given], [t.title for t in p.talks_attended],
            [(e.skill, e.sentence) for e, _ in p.endorsements_received],
            [(e.skill, e.sentence) for e, _ in p.endorsements_given])

    return {
        "overview": overview,
        "ideas": d.talk_ideas(overview, min_wanters=1),
        "ranked": {s.key: ranked(s.key) for s in overview},
        "wanters": {s.key: [p.name for p in d.wanters(engine, s.key, at)] for s in overview},
        "matches": d.find_skills(engine, "k8s", at),
        "nodes": g.nodes,
        "edges": sorted((e["teacher"], e["learner"], e["weight"], tuple(e["topics"])) for e in g.edges),
        "communities": [[p.name for p in c] for c in analysis.communities],
        "brokers": analysis.brokers, "isolated": analysis.isolated, "babel": analysis.babel,
        "profiles": {p: profile(p) for p in people},
        "talks": [(t.title, t.status, t.day, t.confirmed, t.waitlisted) for t in d.talks_as_of(engine, at)],
    }


def rebuilt_from_prefix(services, last_id: int, url: str):
    """A fresh store and read models fed only notifications 1..last_id of ``services``' log."""
    fresh = bootstrap(url)
    prefix = services.store.recorder.select_notifications(start=1, limit=last_id)
    fresh.store.recorder.insert_events(prefix)
    fresh.projector.catch_up()
    return fresh


def test_as_of_equals_read_models_rebuilt_from_the_events_up_to_then(services, clock, tmp_path):
    # given a first chapter: people, offers and wants, a talk held, an endorsement, an alias merge
    organizer = an_organizer(services)
    ann = a_peer(services, "Ann Archer", "Engineering", offers=["Kubernetes"], wants=["Rust"])
    bob = a_peer(services, "Bob Baker", "Operations", offers=["k8s", "SQL"], wants=["Rust"])
    cat = a_peer(services, "Cat Cole", "Operations", wants=["Go"])
    talk = a_talk_held(services, clock, ann, ["Kubernetes", "Docker"], attendees=[bob, cat], ratings=[5, 3],
                       days_ago=40)
    services.directory.endorse(bob, ann, "Kubernetes", "Clear as day")
    services.settle(services.directory.merge_alias("kube", "Kubernetes", by=organizer))
    cut_id, cut_at = services.store.max_notification_id(), _last_event_time(services)

    # and a second chapter that changes almost everything
    dan = a_peer(services, "Dan Dunn", "Tax", offers=["Rust"])
    services.people.change_profile(bob, "Bob Baker", _email(services, bob), "Tax", "Europe/London", by=bob)
    services.people.withdraw_skill(bob, "SQL", by=bob)
    services.people.want_skill(cat, "Kubernetes", by=cat)
    services.directory.merge_alias("k8s", "Kubernetes", by=organizer)
    services.directory.endorse(bob, ann, "Docker", "Changed my mind")
    clock.set(datetime.now(timezone.utc).replace(year=datetime.now().year + 1))
    services.talks.record_attendance(talk, {cat: False}, by=ann)
    clock.fixed = None
    a_talk_held(services, clock, dan, ["Rust"], attendees=[ann, cat], days_ago=3)
    later, _ = services.talks.propose(cat, "Go for accountants", "", ["Go"])
    services.talks.schedule(later, next_weekday(14), "great-hall", by=cat)
    services.settle(services.people.deactivate(cat, by=cat))
    assert min(_times(services, start=cut_id + 1)) > cut_at  # the cut falls between the chapters

    # when the same questions are asked as of the cut, and of a store rebuilt from the prefix
    fresh = rebuilt_from_prefix(services, cut_id, f"sqlite:///{tmp_path}/prefix.sqlite3")
    try:
        as_of = snapshot(services.engine, cut_at, reference=cut_at)
        rebuilt = snapshot(fresh.engine, None, reference=cut_at)
    finally:
        fresh.close()

    # then they agree on everything, and the second chapter did change the present
    assert as_of == rebuilt
    assert snapshot(services.engine, None, reference=cut_at) != as_of
    assert as_of["edges"] and as_of["ranked"]["kubernetes"] and as_of["profiles"][str(ann)]


def _email(services, peer_id) -> str:
    from commonroom.domain.peer import Peer

    return services.people.get(peer_id, Peer).email


def test_talks_as_of_show_each_talk_as_it_stood(services):
    # given a talk proposed, then scheduled, then cancelled
    an_organizer(services)
    ann = a_peer(services, "Ann Archer")
    talk, proposed_at = services.talks.propose(ann, "Ledgers", "", ["Accounting"])
    services.settle()
    moments = [_last_event_time(services)]
    services.settle(services.talks.schedule(talk, next_weekday(10), "great-hall", by=ann))
    moments.append(_last_event_time(services))
    services.settle(services.talks.cancel(talk, "Ill", by=ann))
    moments.append(_last_event_time(services))
    # then as of each moment the talk has the status it had then
    statuses = [[(t.title, t.status) for t in d.talks_as_of(services.engine, m)] for m in moments]
    assert statuses == [[("Ledgers", "proposed")], [("Ledgers", "scheduled")], [("Ledgers", "cancelled")]]
    assert d.talks_as_of(services.engine, d.moment(moments[0].date().replace(year=2000))) == []


def test_a_profile_as_of_shows_the_department_then_and_nothing_before_registration(services):
    ann = a_peer(services, "Ann Archer", "Audit", offers=["IFRS 17"])
    services.settle()
    before_move = _last_event_time(services)
    services.settle(services.people.change_profile(ann, "Ann Archer", _email(services, ann), "Tax", "UTC", by=ann))
    assert d.profile(services.engine, str(ann), before_move).person.department == "Audit"
    assert d.profile(services.engine, str(ann)).person.department == "Tax"
    assert d.profile(services.engine, str(ann), d.moment(before_move.date().replace(year=2000))) is None


def _times(services, start: int = 1) -> list[datetime]:
    notifications = services.store.recorder.select_notifications(start=start, limit=100_000)
    return [services.store.mapper.to_domain_event(n).timestamp for n in notifications]


def _last_event_time(services) -> datetime:
    """The latest timestamp so far (one save's events are not always in timestamp order)."""
    return max(_times(services))


@pytest.mark.parametrize("value", ["2026-13-01", "soon", "2026/01/01"])
def test_an_as_of_that_is_not_a_date_names_the_field(value):
    from commonroom.domain.errors import InvalidValue

    with pytest.raises(InvalidValue) as error:
        d.parse_as_of(value)
    assert error.value.field == "as_of"
