"""Many people sign up for one talk at the same moment: seats, waitlist order and no errors."""

from __future__ import annotations

import multiprocessing
from functools import partial
from uuid import UUID, uuid4

import pytest

from commonroom.domain.talk import Talk
from commonroom.projections.attendance import SignUpRow
from core_given import a_scheduled_talk, all_at_once, an_organizer, rows


def sign_up_together(services, talk_id: UUID, peers: list[UUID], barrier=None) -> list[str]:
    """One thread per peer, released together; return any error a caller saw."""
    return all_at_once([partial(services.talks.sign_up, talk_id, peer) for peer in peers], barrier)


def sign_up_in_another_process(database_url: str, talk_id: UUID, peers: list[UUID], barrier, results) -> None:
    """Runs in a spawned process with its own Commonroom on the same database."""
    from commonroom.platform.bootstrap import bootstrap

    try:
        app = bootstrap(database_url)
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        barrier.abort()
        results.put(([repr(error)], 0, 0))
        return
    try:
        errors = sign_up_together(app, talk_id, peers, barrier)
        results.put((errors, app.stats.commands, app.stats.conflicts_retried))
    finally:
        app.close()


def assert_five_seats_and_an_ordered_waitlist(services, talk_id: UUID, peers: list[UUID]) -> None:
    talk = services.store.repository.get(talk_id)
    assert len(talk.confirmed) == 5 and len(talk.waitlist) == 15
    assert sorted(talk.confirmed + talk.waitlist) == sorted(peers)
    # the waitlist positions are 1..15 in the order the events were recorded
    waitlisted = [e for e in services.store.events.get(talk_id) if isinstance(e, Talk.Waitlisted)]
    assert [e.position for e in waitlisted] == list(range(1, 16))
    assert [e.peer_id for e in waitlisted] == talk.waitlist
    # and the attendance view agrees, once, with every seat
    signups = rows(services, SignUpRow, SignUpRow.talk_id == str(talk_id))
    assert len(signups) == 20
    assert sorted(str(p) for p in talk.confirmed) == sorted(r.peer_id for r in signups if r.status == "confirmed")
    waiting = {r.peer_id: r.position for r in signups if r.status == "waitlisted"}
    assert waiting == {str(e.peer_id): e.position for e in waitlisted}


def test_twenty_threads_signing_up_for_five_seats_get_five_seats_and_a_waitlist_in_order(services):
    # given a talk in a room of five
    organizer = an_organizer(services, rooms=(("Blue room", 5),))
    talk_id = a_scheduled_talk(services, organizer)
    peers = [uuid4() for _ in range(20)]
    # when twenty people sign up at once
    errors = sign_up_together(services, talk_id, peers)
    # then nobody sees an error, five are confirmed and fifteen wait in event order
    assert errors == []
    assert_five_seats_and_an_ordered_waitlist(services, talk_id, peers)


def two_processes_of_ten_threads_share_five_seats(database_url: str, clock) -> None:
    from commonroom.platform.bootstrap import bootstrap

    services = bootstrap(database_url, clock=clock)
    try:
        # given a talk in a room of five
        organizer = an_organizer(services, rooms=(("Blue room", 5),))
        talk_id = a_scheduled_talk(services, organizer)
        peers = [uuid4() for _ in range(20)]
        # when two processes with ten threads each sign twenty people up at once
        spawn = multiprocessing.get_context("spawn")
        barrier, results = spawn.Barrier(20), spawn.Queue()
        processes = [spawn.Process(target=sign_up_in_another_process,
                                   args=(database_url, talk_id, peers[i::2], barrier, results)) for i in range(2)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=90) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        # then nobody saw an error, and the seats and the waitlist are as with one process
        assert [errors for errors, _, _ in outcomes] == [[], []], outcomes  # (errors, commands, conflicts retried)
        assert all(process.exitcode == 0 for process in processes)
        assert_five_seats_and_an_ordered_waitlist(services, talk_id, peers)
        # and every sign-up was one successful command, whatever conflicts were retried on the way
        assert sum(commands for _, commands, _ in outcomes) == 20
    finally:
        services.close()


@pytest.mark.postgres
def test_two_processes_of_ten_threads_share_five_seats_without_errors(pg_url, clock):
    two_processes_of_ten_threads_share_five_seats(pg_url, clock)


def test_concurrent_sign_ups_and_cancellations_keep_seats_full_and_waitlist_in_order(services):
    # given a full talk with five waiting
    organizer = an_organizer(services, rooms=(("Blue room", 5),))
    talk_id = a_scheduled_talk(services, organizer)
    first = [uuid4() for _ in range(10)]
    for peer in first:
        services.talks.sign_up(talk_id, peer)
    # when the five confirmed cancel while five more sign up, all at once
    later = [uuid4() for _ in range(5)]
    errors = all_at_once([partial(services.talks.cancel_sign_up, talk_id, p) for p in first[:5]]
                         + [partial(services.talks.sign_up, talk_id, p) for p in later])
    # then the first five waiting took the seats, in order, and the late-comers wait
    assert errors == []
    talk = services.store.repository.get(talk_id)
    assert talk.confirmed == first[5:]
    assert sorted(talk.waitlist) == sorted(later)
    waitlisted = [e for e in services.store.events.get(talk_id) if isinstance(e, Talk.Waitlisted)]
    assert [e.peer_id for e in waitlisted[5:]] == talk.waitlist
