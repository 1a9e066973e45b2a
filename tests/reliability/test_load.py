"""Load: 2 web processes and 1 projection worker on PostgreSQL; 200 concurrent clients sign up
for and cancel seats on a few talks for a bounded time.

Afterwards: no talk is overbooked, waitlists are in order, every accepted request has its event,
and every read model equals a rebuild from zero. The figures are printed for the closing note.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from commonroom.platform.bootstrap import bootstrap

from stack import build_world, command_events, http, rebuilt_snapshot, table_snapshot, wait_until

CLIENTS = 200
SECONDS = 15.0


def test_two_web_processes_under_200_clients_never_overbook_and_lose_nothing(processes, pg_url, clock):
    # Given 4 talks of 8 seats, 200 peers with tokens, 2 gunicorn workers and a projection worker
    world = build_world(pg_url, clock, peers=CLIENTS, talks=4, capacity=8)
    base = processes.web(workers=2)
    processes.worker()

    # When each client signs up for and cancels seats at random for a bounded time
    accepted: Counter = Counter()  # (talk, peer, action) -> accepted requests
    statuses: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)
    deadline = [0.0]

    def client(peer_id, token, seed):
        rng = random.Random(seed)
        start.wait()
        deadline[0] = deadline[0] or time.monotonic() + SECONDS
        mine: set = set()
        while time.monotonic() < deadline[0]:
            talk_id = rng.choice(world.talks)
            if talk_id in mine and rng.random() < 0.5:
                status, _, _ = http("DELETE", f"{base}/api/v1/talks/{talk_id}/signups/me", token=token)
                action = "cancel"
                if status in (200, 204):
                    mine.discard(talk_id)
            else:
                status, _, _ = http("POST", f"{base}/api/v1/talks/{talk_id}/signups", {}, token=token)
                action = "signup"
                if status in (200, 201):
                    mine.add(talk_id)
            with lock:
                statuses[status] += 1
                if status in (200, 201, 204):
                    accepted[(talk_id, peer_id, action)] += 1

    threads = [threading.Thread(target=client, args=(p, world.tokens[p], i)) for i, p in enumerate(world.peers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 60)

    # (each web worker reports its own command and conflict counters on /readyz)
    per_process: dict = {}
    for _ in range(40):
        status, body, _ = http("GET", f"{base}/readyz")
        if body and "process" in body:
            per_process[body["process"]["pid"]] = body["process"]
    commands = sum(p["commands"] for p in per_process.values())
    retried = sum(p["conflicts_retried"] for p in per_process.values())
    grouped = {key: sum(p["group_commit"][key] for p in per_process.values())
               for key in ("transactions", "saves", "retried_alone")}
    grouped["largest_group"] = max((p["group_commit"]["largest_group"] for p in per_process.values()), default=0)

    # Then no server error reached a client (503 "busy, retry" is allowed and counted)
    assert not [s for s in statuses if s >= 500 and s != 503 or s == 0], statuses
    assert sum(accepted.values()) > 0

    checker = bootstrap(pg_url)
    try:
        wait_until(lambda: all(v.lag == 0 for v in checker.projector.status()), 60, "the worker to catch up")
        lag_after = {v.name: v.lag for v in checker.projector.status()}
        for talk_id in world.talks:
            talk = checker.store.repository.get(talk_id)
            # never overbooked, waitlist non-empty only when full, nobody twice
            assert len(talk.confirmed) <= talk.capacity
            assert not talk.waitlist or len(talk.confirmed) == talk.capacity
            assert len(set(talk.confirmed) | set(talk.waitlist)) == len(talk.confirmed) + len(talk.waitlist)
            # the attendance view lists the waitlist in the aggregate's order, positions 1..n
            with checker.engine.connect() as c:
                import sqlalchemy as sa

                from commonroom.projections.attendance import SignUpRow

                rows = c.execute(sa.select(SignUpRow.peer_id, SignUpRow.position).where(
                    SignUpRow.talk_id == str(talk_id), SignUpRow.status == "waitlisted")
                    .order_by(SignUpRow.position)).all()
            assert [r.peer_id for r in rows] == [str(p) for p in talk.waitlist]
            assert [r.position for r in rows] == list(range(1, len(talk.waitlist) + 1))
        # every accepted request has exactly its event (and no event lacks its request)
        assert command_events(checker.store, world.talks) == accepted
        live = table_snapshot(checker.engine)
        stats = {"requests": sum(statuses.values()), "statuses": dict(statuses), "web_workers_seen": len(per_process),
                 "commands": commands, "conflicts_retried": retried, "group_commit": grouped,
                 "accepted": sum(accepted.values()), "events": checker.store.max_notification_id(),
                 "lag_after": lag_after}
    finally:
        checker.close()
    processes.stop_all()
    # And every read model equals a rebuild from zero
    assert rebuilt_snapshot(pg_url) == live
    print(f"\nLOAD FIGURES {stats}")
