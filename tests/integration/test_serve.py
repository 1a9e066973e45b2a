"""`commonroom serve` (what `make run` ends with) really serves, on the dev server and on gunicorn."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from commonroom.platform.cli import SYNC_WORKER

BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stopped(server: subprocess.Popen, log_path: Path, seconds: float = 60) -> None:
    """Wait for a server sent SIGTERM to exit. ``seconds`` bounds a stuck server (gunicorn gives its
    workers 30 s to finish before it kills them), it is not a timing assertion; past it the server
    is killed and the test fails with the server's log, so a hang says what it was doing."""
    try:
        server.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        raise AssertionError(f"the server did not stop within {seconds:.0f} s of SIGTERM: "
                             f"{log_path.read_text()}") from None


@pytest.mark.parametrize("workers,threads", [(0, 1), (2, 1), (2, 4)], ids=["dev-server", "gunicorn", "gunicorn-threads"])
def test_serve_answers_http_until_stopped(tmp_path, workers, threads):
    port = free_port()
    env = dict(os.environ, COMMONROOM_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
               COMMONROOM_SECRET_KEY="serve-test")
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen([str(BIN / "commonroom"), "serve", "--port", str(port), "--workers", str(workers),
                                   "--threads", str(threads)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status = None
        deadline = time.monotonic() + 60  # a bound for a stuck server, not a timing assertion
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/programme", timeout=5) as response:
                    status = response.status
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        assert status == 200, (tmp_path / "serve.log").read_text()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page-serve-probe", timeout=5)
        except urllib.error.HTTPError as error:
            assert error.code == 404
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        stopped(server, tmp_path / "serve.log")
    if workers:
        # each request is logged once, as a JSON line (no second, plain access log line)
        lines = [line for line in (tmp_path / "serve.log").read_text().splitlines() if "serve-probe" in line]
        assert len(lines) == 1, lines
        entry = json.loads(lines[0])
        assert (entry["path"], entry["status"], entry["msg"]) == ("/no-such-page-serve-probe", 404, "request")
        # gunicorn's plain workers by default (ours, closing promptly), its threaded ones with --threads
        assert f"Using worker: {'gthread' if threads > 1 else SYNC_WORKER}" in (tmp_path / "serve.log").read_text()
        # and no control socket at the one path every gunicorn of this user would share
        assert "Control socket" not in (tmp_path / "serve.log").read_text()


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_gunicorn_projects_in_a_worker_process_of_its_own_restarted_if_it_stops(tmp_path, database_url):
    # given `serve --workers 2` (on SQLite, and on PostgreSQL)
    port = free_port()
    env = dict(os.environ, COMMONROOM_DATABASE_URL=database_url, COMMONROOM_SECRET_KEY="serve-test")
    env.pop("COMMONROOM_FOLLOW", None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([str(BIN / "commonroom"), "serve", "--port", str(port), "--workers", "2"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(condition, what: str) -> None:
        deadline = time.monotonic() + 60  # a bound for a stuck server, not a timing assertion
        while time.monotonic() < deadline:
            if condition():
                return
            assert server.poll() is None, log_path.read_text()
            time.sleep(0.2)
        raise AssertionError(f"{what}: {log_path.read_text()}")
    try:
        # then a projection worker runs beside gunicorn and holds the views' lock
        wait_for(lambda: log_path.read_text().count("projection worker holds the lock") == 1, "the projector")
        projectors = [pid for pid, cmd in children(server.pid).items() if "projections run" in cmd]
        assert len(projectors) == 1
        # and if it stops, it is started again
        os.kill(projectors[0], signal.SIGKILL)
        wait_for(lambda: log_path.read_text().count("projection worker holds the lock") == 2, "a new projector")
        assert "starting it again" in log_path.read_text()
        started = list(children(server.pid))
    finally:
        os.kill(server.pid, signal.SIGTERM)  # to the serve process alone: it passes it on
        stopped(server, log_path)
    # and stopping the server stopped everything it started (gunicorn and the projector)
    assert len(started) == 2

    def gone(pid: int) -> bool:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"  # exited, not yet reaped by init
    deadline = time.monotonic() + 30
    while not all(gone(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(gone(pid) for pid in started), log_path.read_text()
