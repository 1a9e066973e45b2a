"""Helpers for the reliability tests: real processes, HTTP without a client library, snapshots."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPException  # (this module's own http() would shadow the package)
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from commonroom.domain.talk import Talk
from commonroom.platform.bootstrap import bootstrap
from commonroom.platform.cli import gunicorn_options
from commonroom.platform.services import SYSTEM_ACTOR
from commonroom.projections.base import Base

SECRET = "reliability-secret"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "COMMONROOM_DATABASE_URL": database_url, "COMMONROOM_SECRET_KEY": SECRET,
        "COMMONROOM_INLINE_PROJECTIONS": "0", "COMMONROOM_FOLLOW": "0", "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class Processes:
    database_url: str
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(list(argv), env=process_env(self.database_url), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def web(self, workers: int = 2) -> str:
        port = free_port()
        # threaded workers (`commonroom serve --threads 8`): their group commit under these loads
        self.start("web", str(BIN / "gunicorn"), "-w", str(workers), *gunicorn_options(threads=8),
                   "-b", f"127.0.0.1:{port}", "--graceful-timeout", "2", "commonroom.platform.wsgi:app")
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http("GET", f"{base}/healthz")[0] == 200, 30, "web server to start")
        return base

    def worker(self, name: str = "worker", *extra: str) -> subprocess.Popen:
        return self.start(name, str(BIN / "commonroom"), "projections", "run", *extra)

    def kill9(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def http(method: str, url: str, body: dict | None = None, token: str | None = None,
         timeout: float = 30.0) -> tuple[int, dict | None, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else None), dict(response.headers)
    except urllib.error.HTTPError as error:
        try:
            raw = error.read()
            payload = json.loads(raw)
        except (ValueError, HTTPException, OSError):
            payload = {"raw": "unreadable body"}
        return error.code, payload, dict(error.headers)
    except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError, OSError) as error:
        # status 0: no complete answer (refused, reset, or cut mid-body by a killed worker)
        return 0, {"error": repr(error)}, {}


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class World:
    organizer: object
    talks: list
    peers: list
    tokens: dict


def build_world(database_url: str, clock, peers: int = 200, talks: int = 4, capacity: int = 8) -> World:
    """An organizer, a programme, ``talks`` scheduled talks and ``peers`` peers with API tokens."""
    from commonroom.platform.app import create_app
    from commonroom.platform.web.security import issue_token

    from support import next_weekday, start_programme

    app = bootstrap(database_url, clock=clock)
    try:
        password_hash = app.people.hash_password("long enough")
        organizer = app.people.register("Olive Organizer", "olive@example.org", "Ops",
                                        password_hash=password_hash).peer_id
        app.people.grant_organizer(organizer, by=SYSTEM_ACTOR)
        start_programme(app, organizer, rooms=[(f"Room {i}", capacity) for i in range(talks)])
        day = next_weekday(7)
        talk_ids = []
        for i in range(talks):
            talk_id, _ = app.talks.propose(organizer, f"Talk {i}", "", ["load"])
            app.talks.schedule(talk_id, day if i == 0 else day + timedelta(days=7 * i), f"room-{i}", by=organizer)
            talk_ids.append(talk_id)
        peer_ids = [app.people.register(f"Peer {i}", f"peer{i}@example.org", f"Dept {i % 5}",
                                        password_hash=password_hash).peer_id for i in range(peers)]
        app.settle()
    finally:
        app.close()
    signer = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "FOLLOW": False})
    with signer.test_request_context():
        tokens = {p: issue_token(p) for p in peer_ids}
    signer.extensions["commonroom"].close()
    return World(organizer, talk_ids, peer_ids, tokens)


def table_snapshot(engine: sa.Engine) -> dict[str, list]:
    """Every read-model table's rows, sorted, for comparing a live result with a rebuild."""
    snapshot = {}
    with engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            if table.name == "projection_tracking":
                continue
            rows = c.execute(sa.select(table)).all()
            snapshot[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return snapshot


def live_snapshot(database_url: str) -> dict[str, list]:
    """The read models as the running system left them (see ``table_snapshot``)."""
    app = bootstrap(database_url)
    try:
        return table_snapshot(app.engine)
    finally:
        app.close()


def command_events(store, talk_ids) -> Counter:
    """How many events each (talk, peer, "signup" | "cancel") command left in the store: a
    sign-up (seat or waitlist) and a peer's own cancellation, to compare with accepted requests."""
    events: Counter = Counter()
    for talk_id in talk_ids:
        for event in store.events.get(talk_id):
            if isinstance(event, (Talk.SignedUp, Talk.Waitlisted)):
                events[(talk_id, event.peer_id, "signup")] += 1
            elif isinstance(event, Talk.SignUpCancelled) and event.by == event.peer_id:
                events[(talk_id, event.peer_id, "cancel")] += 1
    return events


def rebuilt_snapshot(database_url: str) -> dict[str, list]:
    app = bootstrap(database_url)
    try:
        app.projector.rebuild()
        return table_snapshot(app.engine)
    finally:
        app.close()
