"""The sync worker `commonroom serve --workers N` runs (platform/gunicorn_sync.py), under a real
gunicorn: it closes a connection at once when the request was read whole, and lingers like
gunicorn's own worker when a body was left unread."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from commonroom.platform.cli import SYNC_WORKER
from commonroom.platform.gunicorn_sync import nothing_waiting

BIN = Path(sys.executable).parent

APP = textwrap.dedent('''
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/read":
            body = environ["wsgi.input"].read()
            answer = b"read %d bytes" % len(body)
        else:  # answers without reading the body
            answer = b"ignored " + b"x" * 20000
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
        return [answer]
''')


@pytest.fixture
def server(tmp_path):
    (tmp_path / "tiny_app.py").write_text(APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(tmp_path / "gunicorn.log", "wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", "1", "-k", SYNC_WORKER, "-b", f"127.0.0.1:{port}",
             "--pythonpath", str(tmp_path), "tiny_app:app"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30  # a bound for a stuck server, not a timing assertion
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    assert f"Using worker: {SYNC_WORKER}" in (tmp_path / "gunicorn.log").read_text()


TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # linux/tcp_states.h


def tcp_state(sock: socket.socket) -> int:
    """The socket's TCP state (the first byte of Linux's ``struct tcp_info``)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def read_answer(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_read_whole_is_answered_and_its_connection_closed_at_once(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as client:
        client.sendall(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        answer = read_answer(client)  # the server's FIN ends it
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"read 5 bytes")
        # The worker has closed its end for good (gunicorn's own would still be reading, lingering
        # until we close or for two seconds, and drain what we send): what we send now is answered
        # with a reset, which closes our end (TCP_CLOSE) where a drained one stays in CLOSE_WAIT.
        assert tcp_state(client) in (TCP_CLOSE_WAIT, TCP_CLOSE)
        client.sendall(b"more")
        deadline = time.monotonic() + 5  # a bound for the reset to arrive, not a timing assertion
        while tcp_state(client) != TCP_CLOSE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tcp_state(client) == TCP_CLOSE


def test_a_body_left_unread_gets_gunicorns_lingering_close_and_the_whole_answer(server):
    body = b"y" * 40000  # more than gunicorn reads ahead with the headers
    with socket.create_connection(("127.0.0.1", server), timeout=10) as client:
        client.sendall(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = read_answer(client)
        # the unread body was drained before the close, not reset: the answer arrives whole
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ignored " + b"x" * 20000)


def test_the_next_connection_is_served_by_the_same_single_worker(server):
    for n in range(3):
        with socket.create_connection(("127.0.0.1", server), timeout=10) as client:
            client.sendall(b"GET /read HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answer(client).endswith(b"read 0 bytes"), n


def test_nothing_waiting_tells_an_open_quiet_socket_from_one_with_bytes_or_closed():
    one, other = socket.socketpair()
    try:
        assert nothing_waiting(one)
        other.sendall(b"x")
        assert not nothing_waiting(one)
        assert one.recv(1) == b"x"
        assert nothing_waiting(one)
        other.close()
        assert not nothing_waiting(one)  # closed by the peer: gunicorn's own close handles it
    finally:
        one.close()
        other.close()
