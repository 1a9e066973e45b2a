"""The projection worker: one per view group at a time, a second waits on the lock."""

import threading
import time

import pytest

from commonroom.platform.bootstrap import bootstrap
from commonroom.platform.worker import run_worker


@pytest.fixture
def two_processes_worth(database_url, clock):
    first = bootstrap(database_url, clock=clock, inline_projections=False)
    second = bootstrap(database_url, clock=clock, inline_projections=False)
    yield first, second
    first.close()
    second.close()


def start(app, views, **kwargs):
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, views, stop), kwargs=kwargs, daemon=True)
    thread.start()
    return stop, thread


def test_a_second_worker_for_the_same_views_waits_then_takes_over(two_processes_worth):
    first, second = two_processes_worth
    # Given a worker following the log (and holding its group's lock)
    locked = threading.Event()
    stop_first, first_thread = start(first, ["people"], on_locked=locked.set)
    assert locked.wait(60)
    # When a second worker for the same views starts
    waiting = threading.Event()
    stop_second, second_thread = start(second, ["people"], on_wait=waiting.set)
    # Then it waits for the lock instead of processing
    assert waiting.wait(60)  # a bound for a stuck test, not a timing assertion
    position = first.people.register("Ada", "ada@example.org", "Audit", "long enough").position
    assert _wait_position(first, "people", position)
    # And when the first stops, the second takes over and keeps the view current
    stop_first.set()
    first_thread.join(60)
    later = first.people.register("Bob", "bob@example.org", "Tax", "long enough").position
    assert _wait_position(second, "people", later)
    stop_second.set()
    second_thread.join(10)


def test_workers_for_different_view_groups_run_side_by_side(two_processes_worth):
    first, second = two_processes_worth
    stop_a, thread_a = start(first, ["people"])
    stop_b, thread_b = start(second, ["schedule", "attendance", "notifications"])
    position = first.people.register("Ada", "ada@example.org", "Audit", "long enough").position
    assert _wait_position(first, "people", position)
    assert _wait_position(second, "schedule", position)
    for stop, thread in ((stop_a, thread_a), (stop_b, thread_b)):
        stop.set()
        thread.join(10)


def _wait_position(app, view, position, timeout=60.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.projector.positions()[view] >= position:
            return True
        time.sleep(0.02)
    return False


def test_without_a_running_worker_settle_still_shows_the_command_s_effect(two_processes_worth):
    # Given a web process that leaves projecting to a worker, and no worker running
    web, _ = two_processes_worth
    web.settle_timeout = 0.2
    # When a command is settled
    position = web.people.register("Ada", "ada@example.org", "Audit", "long enough").position
    web.settle(position)
    # Then the read models have caught up to it anyway (read-your-writes)
    assert min(web.projector.positions().values()) >= position


def test_a_position_past_the_head_of_the_log_does_not_wait_for_events_that_will_never_come(two_processes_worth):
    # Given views that are up to date, and a browser whose session remembers a position from
    # before the database was reset (past the head of this log)
    web, _ = two_processes_worth
    web.people.register("Ada", "ada@example.org", "Audit", "long enough")
    web.projector.catch_up()
    web.settle_timeout = 600
    # When the next request settles to it
    done = threading.Event()
    thread = threading.Thread(target=lambda: (web.settle(web.projector.head() + 1000), done.set()), daemon=True)
    thread.start()
    # Then it returns at once instead of waiting out the timeout
    assert done.wait(60)  # a bound for a stuck test (the timeout is 600 s), not a timing assertion


def test_saves_made_while_the_worker_coalesces_are_projected_in_one_batch(two_processes_worth):
    # Given a worker that, once woken by a save, waits a moment for more before catching up
    app, _ = two_processes_worth
    app.projector.catch_up()
    batches = []
    stop = threading.Event()
    locked = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, None, stop), daemon=True, kwargs=dict(
        poll_seconds=60, coalesce_seconds=2, on_progress=batches.append, on_locked=locked.set))
    thread.start()
    assert locked.wait(60)
    first = app.people.register("Warm Up", "warm@example.org", "Audit", "long enough").position
    assert app.projector.wait_for(first, timeout=60)
    # (the worker reports a batch after the views reach it: wait for the warm-up's report too)
    deadline = time.monotonic() + 60
    while sum(batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    batches.clear()
    # When five people register one after the other (each hashes a password: tens of ms apart)
    last = 0
    for i in range(5):
        last = app.people.register(f"Peer {i}", f"peer{i}@example.org", "Audit", "long enough").position
    # Then they are projected together (each registration is two events: peer and email claim),
    # not in a batch per registration: one batch, or two when the warm-up's window was still open
    assert app.projector.wait_for(last, timeout=60)
    stop.set()
    thread.join(10)
    assert sum(batches) == 10 and len(batches) <= 2


@pytest.mark.postgres
def test_a_worker_started_before_its_database_exists_waits_for_it_then_follows(pg_database_url, tmp_path):
    # Given a projection worker started on a PostgreSQL database that is not there yet (as during
    # an outage, or before provisioning finished)
    import os
    import secrets
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psycopg

    admin_url = pg_database_url.rsplit("/", 1)[0] + "/postgres"
    name = f"commonroom_late_{os.getpid()}_{secrets.token_hex(3)}"
    url = f"{pg_database_url.rsplit('/', 1)[0]}/{name}"
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([str(Path(sys.executable).with_name("commonroom")), "projections", "run"],
                                  env=dict(os.environ, COMMONROOM_DATABASE_URL=url, COMMONROOM_FOLLOW="0"),
                                  stdout=out, stderr=subprocess.STDOUT)

    def wait_for(text: str) -> bool:
        for _ in range(600):  # a bound for a stuck test, not a timing assertion
            if text in log.read_text() or worker.poll() is not None:
                return text in log.read_text()
            time.sleep(0.1)
        return False
    try:
        # then it says it is waiting, and keeps running
        assert wait_for("not reachable yet"), log.read_text()
        assert worker.poll() is None
        # and when the database appears, it sets up and takes its lock
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        assert wait_for("holds the lock"), log.read_text()
        # and stops cleanly when asked
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_a_waiting_worker_stops_when_told_without_the_lock_coming_free(two_processes_worth):
    first, second = two_processes_worth
    locked, waiting = threading.Event(), threading.Event()
    stop_first, first_thread = start(first, ["people"], on_locked=locked.set)
    assert locked.wait(60)
    stop_second, second_thread = start(second, ["people"], on_wait=waiting.set)
    assert waiting.wait(60)
    # the first keeps the lock; the second, told to stop, ends anyway (it used to block in
    # flock / pg_advisory_lock until the lock came free, so SIGTERM could not stop a standby)
    stop_second.set()
    second_thread.join(30)  # a bound for a stuck test
    assert not second_thread.is_alive() and first_thread.is_alive()
    stop_first.set()
    first_thread.join(30)


def test_sigterm_stops_a_standby_projections_run_process(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    env = dict(os.environ, COMMONROOM_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    command = [str(Path(sys.executable).parent / "commonroom"), "projections", "run"]
    logs = [open(tmp_path / f"worker-{n}.log", "w+") for n in (1, 2)]
    workers = [subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    try:
        def said() -> str:
            return "\n".join(f"worker {n}: " + (tmp_path / f"worker-{n}.log").read_text() for n in (1, 2))

        deadline = time.monotonic() + 60
        while "waiting for its lock" not in said():
            assert time.monotonic() < deadline, "neither worker says it waits for the other:\n" + said()
            assert all(w.poll() is None for w in workers), "a worker ended:\n" + said()
            time.sleep(0.1)
        standby = next(w for w, n in zip(workers, (1, 2))
                       if "waiting for its lock" in (tmp_path / f"worker-{n}.log").read_text())
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=30) == 0, said()
        assert all(w.poll() is None for w in workers if w is not standby), said()  # the holder follows on
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(timeout=30)
        for log in logs:
            log.close()
