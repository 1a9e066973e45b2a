"""Faults on real processes: kill -9 the projection worker (mid-rebuild and mid-follow) and a web
worker (under load), then check that nothing was lost, doubled or half-written."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter

from commonroom.platform.bootstrap import bootstrap

from stack import (BIN, build_world, command_events, http, live_snapshot, process_env, rebuilt_snapshot,
                   table_snapshot, wait_until)


def sign_up_everyone(database_url, world, clock, rounds: int = 1) -> None:
    """Real commands through the services (a history worth rebuilding)."""
    app = bootstrap(database_url, clock=clock, inline_projections=False)
    try:
        for _ in range(rounds):
            for peer in world.peers:
                for talk in world.talks:
                    app.talks.sign_up(talk, peer)
            for peer in world.peers[::2]:
                app.talks.cancel_sign_up(world.talks[0], peer)
    finally:
        app.close()


def positions(database_url) -> tuple[dict, int]:
    app = bootstrap(database_url)
    try:
        return {v.name: v.position for v in app.projector.status()}, app.projector.head()
    finally:
        app.close()


def test_kill_9_during_a_rebuild_then_resuming_equals_a_clean_rebuild(pg_url, clock, tmp_path):
    # Given a history of a few thousand events and up-to-date views
    world = build_world(pg_url, clock, peers=120, talks=4, capacity=30)
    sign_up_everyone(pg_url, world, clock)
    _, head = positions(pg_url)
    # When a rebuild is killed with SIGKILL part-way through
    with open(tmp_path / "rebuild.log", "wb") as log:
        rebuild = subprocess.Popen([str(BIN / "commonroom"), "projections", "rebuild"], env=process_env(pg_url),
                                   stdout=log, stderr=subprocess.STDOUT)

    def part_way() -> bool:
        reached, _ = positions(pg_url)
        return 0 < min(reached.values()) < head

    wait_until(part_way, 120, "the rebuild to be part-way")
    rebuild.send_signal(signal.SIGKILL)
    rebuild.wait(10)
    reached, _ = positions(pg_url)
    assert min(reached.values()) < head
    # And a worker is started again and catches up
    subprocess.run([str(BIN / "commonroom"), "projections", "run", "--once"], env=process_env(pg_url),
                   check=True, capture_output=True, timeout=300)
    # Then the views equal a clean rebuild: nothing lost, nothing doubled
    assert live_snapshot(pg_url) == rebuilt_snapshot(pg_url)


def test_kill_9_of_the_live_worker_then_restarting_it_equals_a_clean_rebuild(processes, pg_url, clock):
    # Given a projection worker following the log while commands keep arriving
    world = build_world(pg_url, clock, peers=80, talks=3, capacity=20)
    _, before = positions(pg_url)
    processes.worker()
    writer = threading.Thread(target=sign_up_everyone, args=(pg_url, world, clock))
    writer.start()
    # When the worker is killed with SIGKILL in the middle of live processing
    wait_until(lambda: positions(pg_url)[0]["attendance"] > before + 100, 120, "live processing to be under way")
    processes.kill9("worker")
    time.sleep(0.5)
    # And restarted after more events arrived
    processes.worker("worker-again")
    writer.join(300)
    wait_until(lambda: min(positions(pg_url)[0].values()) == positions(pg_url)[1], 120, "the restarted worker")
    processes.stop_all()
    # Then the views equal a clean rebuild
    assert live_snapshot(pg_url) == rebuilt_snapshot(pg_url)


def gunicorn_workers(master_pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == master_pid:
                        children.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return children


def test_kill_9_of_a_web_worker_under_load_leaves_no_partial_change(processes, pg_url, clock):
    # Given 2 web workers, a projection worker and 60 clients signing up and cancelling
    world = build_world(pg_url, clock, peers=60, talks=3, capacity=10)
    base = processes.web(workers=2)
    processes.worker()
    accepted, unknown = Counter(), Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def client(peer_id, token, seed):
        rng = random.Random(seed)
        while not stop.is_set():
            talk_id = rng.choice(world.talks)
            action = rng.choice(["signup", "cancel"])
            if action == "signup":
                status, _, _ = http("POST", f"{base}/api/v1/talks/{talk_id}/signups", {}, token=token)
            else:
                status, _, _ = http("DELETE", f"{base}/api/v1/talks/{talk_id}/signups/me", token=token)
            with lock:
                if status in (200, 201, 204):
                    accepted[(talk_id, peer_id, action)] += 1
                elif status == 0 or status >= 500 and status != 503:
                    unknown[(talk_id, peer_id, action)] += 1

    threads = [threading.Thread(target=client, args=(p, world.tokens[p], i)) for i, p in enumerate(world.peers)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    # When one web worker is killed with SIGKILL mid-load (gunicorn starts a new one)
    victim = gunicorn_workers(processes.procs["web"].pid)[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(60)
    # Then every talk is whole: no overbooking, nobody twice, and each accepted request has its
    # event; a request cut off by the kill either happened entirely or not at all
    app = bootstrap(pg_url)
    try:
        wait_until(lambda: all(v.lag == 0 for v in app.projector.status()), 60, "the worker to catch up")
        for talk_id in world.talks:
            talk = app.store.repository.get(talk_id)
            assert len(talk.confirmed) <= talk.capacity
            assert len(set(talk.confirmed) | set(talk.waitlist)) == len(talk.confirmed) + len(talk.waitlist)
        events = command_events(app.store, world.talks)
        for key in set(events) | set(accepted):
            assert accepted[key] <= events[key] <= accepted[key] + unknown[key], key
        live = table_snapshot(app.engine)
    finally:
        app.close()
    processes.stop_all()
    assert live == rebuilt_snapshot(pg_url)
