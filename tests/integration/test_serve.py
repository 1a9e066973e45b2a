"""`commonroom serve` (what `make run` ends with) really serves, on the dev server and on gunicorn."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("workers", [0, 2], ids=["dev-server", "gunicorn"])
def test_serve_answers_http_until_stopped(tmp_path, workers):
    port = free_port()
    env = dict(os.environ, COMMONROOM_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
               COMMONROOM_SECRET_KEY="serve-test")
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen([str(BIN / "commonroom"), "serve", "--port", str(port), "--workers", str(workers)],
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
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
