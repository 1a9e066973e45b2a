"""The version board (``platform.versions``): on SQLite a command may start from the process's cached
copy of its aggregate without asking the store, when the board shows nobody saved it since. Two
apps on one database file stand for two web processes. The board is only a hint: a copy it vouched
for wrongly (a writer that never noted its save) still ends in the right outcome, through the save's
version check or, for a command that saves nothing, a look at the store before it answers."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commonroom.domain.talk import NotSignedUp
from commonroom.platform.bootstrap import bootstrap
from commonroom.platform.versions import VersionBoard
from core_given import a_scheduled_talk, an_organizer
from test_concurrency import two_processes_of_ten_threads_share_five_seats


@pytest.fixture
def two_processes(sqlite_url, clock):
    first, second = bootstrap(sqlite_url, clock=clock), bootstrap(sqlite_url, clock=clock)
    yield first, second
    second.close()
    first.close()


class CountedQueries:
    """How often an app asks its store for an aggregate's events."""

    def __init__(self, app) -> None:
        self.count = 0
        recorder = app.store.recorder
        select = recorder.select_events

        def counted(*args, **kwargs):
            self.count += 1
            return select(*args, **kwargs)
        recorder.select_events = counted


def test_the_board_keeps_what_each_process_noted_last(tmp_path):
    path = str(tmp_path / "x.versions")
    one, other = VersionBoard(path), VersionBoard(path)  # two processes map the same file
    talk, unknown = uuid4(), uuid4()
    one.note(talk, 3)
    other.note(talk, 4)
    assert one.latest(talk) == 4 and other.latest(talk) == 4
    assert one.latest(unknown) is None  # never noted (or its slot holds another aggregate's)
    one.close(), other.close()


def test_a_command_starts_from_the_cached_copy_until_another_process_saves(two_processes):
    first, second = two_processes
    talk_id = a_scheduled_talk(first, an_organizer(first, rooms=(("Blue room", 5),)))
    queries = CountedQueries(first)
    # given the first process signed someone up (its cache holds the talk as it saved it)
    first.talks.sign_up(talk_id, uuid4())
    before = queries.count
    # when it signs the next one up with nobody else saving meanwhile: no query for the talk
    first.talks.sign_up(talk_id, uuid4())
    assert queries.count == before
    # and when the other process signs four people up, the first one's copy is behind: it asks
    for _ in range(4):
        second.talks.sign_up(talk_id, uuid4())
    first.talks.sign_up(talk_id, uuid4())
    assert queries.count > before
    # then the seventh is waitlisted: five seats, whoever filled them
    talk = first.store.repository.get(talk_id)
    assert len(talk.confirmed) == 5 and len(talk.waitlist) == 2
    assert first.stats.conflicts_retried == 0 and first.stats.stale_retried == 0


def test_a_copy_vouched_for_wrongly_still_saves_nothing_wrong(two_processes):
    first, second = two_processes
    talk_id = a_scheduled_talk(first, an_organizer(first, rooms=(("Blue room", 5),)))
    first.talks.sign_up(talk_id, uuid4())  # the first process's cache holds the talk
    # given the other process saves without noting it on the board (as if it died in between)
    board, second.store.versions = second.store.versions, None
    late = [uuid4() for _ in range(4)]
    for peer in late:
        second.talks.sign_up(talk_id, peer)
    second.store.versions = board
    # when the first process signs one more up from its stale copy (four sign-ups behind)
    first.talks.sign_up(talk_id, uuid4())
    # then its save conflicted and was retried from the store: five confirmed, nobody twice
    assert first.stats.conflicts_retried == 1
    talk = first.store.repository.get(talk_id)
    assert len(talk.confirmed) == 5 and talk.confirmed[1:5] == late


def test_a_refusal_from_a_stale_copy_is_checked_against_the_store(two_processes):
    first, second = two_processes
    talk_id = a_scheduled_talk(first, an_organizer(first, rooms=(("Blue room", 5),)))
    first.talks.sign_up(talk_id, uuid4())
    # given someone signs up in the other process, which does not note it on the board
    peer = uuid4()
    board, second.store.versions = second.store.versions, None
    second.talks.sign_up(talk_id, peer)
    second.store.versions = board
    # when they cancel in the first process, whose copy says they never signed up
    first.talks.cancel_sign_up(talk_id, peer)
    # then the refusal was not the answer: the store knew better, and the cancellation happened
    assert first.stats.stale_retried == 1
    talk = first.store.repository.get(talk_id)
    assert peer not in talk.confirmed and len(talk.confirmed) == 1
    # and a refusal the store agrees with stands (cancelling twice)
    with pytest.raises(NotSignedUp):
        first.talks.cancel_sign_up(talk_id, peer)
    assert first.stats.stale_retried == 1


def test_two_processes_of_ten_threads_share_five_seats_on_sqlite(sqlite_url, clock):
    # (the processes' caches and the board between them; PostgreSQL's run is in test_concurrency)
    two_processes_of_ten_threads_share_five_seats(sqlite_url, clock)
