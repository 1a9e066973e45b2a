"""HTTP under gunicorn (2 workers) with a load generator on loopback: wrk when it is installed,
otherwise a threaded Python client (slower itself, so its figures are lower bounds)."""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from uuid import UUID

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from commonroom.platform.cli import gunicorn_options

BENCH_DIR = Path(__file__).resolve().parent
SECRET_KEY = "commonroom-bench-secret"
THREADS, CONNECTIONS = 2, 8


def load_generator() -> str:
    if shutil.which("wrk"):
        return "wrk"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
        if shutil.which("wrk"):
            return "wrk"
    return "python"


@dataclass
class Load:
    rate: float  # requests/s
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``gunicorn -w 2`` serving ``wsgi_bench:app`` (the product plus a bare route) on one database,
    beside one projection worker (``commonroom projections run``), as the README's production
    layout runs them: the web workers record events and serve pages, the worker keeps the read
    models following the log. (With the follower thread inside one of the two web workers instead,
    that worker did the projecting on top of its requests and set the pace: 0.8 of a core busy
    against 0.65 for the other, the machine 20% idle, sign-ups ~15% slower.)"""

    def __init__(self, database_url: str, workers: int = 2, threads: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, COMMONROOM_DATABASE_URL=database_url, COMMONROOM_SECRET_KEY=SECRET_KEY,
                   COMMONROOM_FOLLOW="0")
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
        self._env = env
        self.start_projector()  # (self.projector)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), *gunicorn_options(threads), "-b", f"127.0.0.1:{self.port}",
             "--pythonpath", str(BENCH_DIR), "--backlog", "2048", "wsgi_bench:app"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_ends_with_the_bench)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(self.port, "/bench/bare")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop(keep_log=True)
            raise RuntimeError(f"gunicorn did not start; see {self.log.name}")
        self.routes = json.loads(get(self.port, "/bench/routes")[1])

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def worker_rss_mb(self) -> float:
        """The largest worker's resident memory (web workers and the projection worker)."""
        sizes = []
        for pid in [*self.worker_pids(), self.projector.pid]:
            text = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024)
        return max(sizes, default=float("nan"))

    def route(self, needle: str, method: str) -> str | None:
        for route in self.routes:
            if needle in route["rule"] and method in route["methods"]:
                return route["rule"]
        return None

    def start_projector(self) -> None:
        """Start a projection worker (``commonroom projections run``) as ``self.projector``."""
        self.projector = subprocess.Popen(
            [str(Path(sys.executable).with_name("commonroom")), "projections", "run"],
            env=self._env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_ends_with_the_bench)

    def stop_projector(self) -> None:
        """Stop the projection worker (SIGTERM: after its current batch). Stopped rather than paused
        with SIGSTOP, which might catch it inside a read of the log and so keep SQLite from reusing
        the log's WAL meanwhile (not measured: stopping it leaves no such question)."""
        _stop(self.projector)

    def stop(self, keep_log: bool = False) -> None:
        """Stop the server and the projection worker; their log (a JSON line a request, tens of
        megabytes over a run) is deleted unless ``keep_log``."""
        for process in (self.process, self.projector):
            _stop(process)
        self.log.close()
        if not keep_log:
            Path(self.log.name).unlink(missing_ok=True)


def _ends_with_the_bench() -> None:
    """In the server's and the projection worker's process, before exec: a SIGTERM when the
    process that started them ends. A bench killed by a signal (``timeout``'s SIGTERM, a kill)
    runs no ``finally``, and its servers, in sessions of their own, went on serving and polling
    into the next run's measurements. (Linux ``prctl(PR_SET_PDEATHSIG)``; the servers are started
    from the bench's main thread, whose end is what the kernel watches.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def session_cookie(peer_id: UUID, csrf: str) -> str:
    """The signed session cookie the app would set after logging ``peer_id`` in (same key, same
    serializer); the bench makes thousands of them without thousands of password checks."""
    app = Flask("bench")
    app.secret_key = SECRET_KEY
    value = SecureCookieSessionInterface().get_signing_serializer(app).dumps({"peer_id": str(peer_id), "csrf": csrf})
    return f"session={value}"


# --- wrk ------------------------------------------------------------------------------------------
WRK_LUA = r"""
local reqs = {}
local i = 0
function init(args)
  local n, k = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if k % n == tid then
      local path, cookie, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
      table.insert(reqs, wrk.format("POST", path, {["Cookie"] = cookie, ["Connection"] = "close",
        ["Content-Type"] = "application/x-www-form-urlencoded"}, body))
    end
    k = k + 1
  end
end
function request()
  i = i + 1
  return reqs[(i - 1) % #reqs + 1]
end
"""
SETUP_LUA = r"""
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
"""


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(base: str, path: str, seconds: float, posts: list[tuple[str, str, str]] | None = None) -> Load:
    """Each request on a new connection (``Connection: close``), as many browsers would arrive.
    With eight kept-alive connections the kernel may hand all eight to one of the two gunicorn
    workers for the whole run (seen: one worker at 0% CPU, the rate halved), which made runs of
    the same page differ by 2x; new connections spread over both workers every time."""
    args = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s",
            "-H", "Connection: close"]
    with tempfile.TemporaryDirectory() as tmp:
        if posts:
            data = Path(tmp, "requests.tsv")
            data.write_text("".join(f"{p}\t{c}\t{b}\n" for p, c, b in posts))
            script = Path(tmp, "post.lua")
            script.write_text(SETUP_LUA + WRK_LUA)
            args += ["-s", str(script), base + path, "--", str(data), str(THREADS)]
        else:
            args.append(base + path)
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    return Load(rate, p50, p99, errors, total)


def run_load(loader: str):
    """The load runner for ``load_generator()``'s answer: ``run_wrk`` or ``run_python``."""
    return run_wrk if loader == "wrk" else run_python


# --- the Python fallback --------------------------------------------------------------------------
def run_python(base: str, path: str, seconds: float, posts: list[tuple[str, str, str]] | None = None) -> Load:
    port = int(base.rsplit(":", 1)[1])
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        mine = []
        while time.perf_counter() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            started = time.perf_counter()
            try:
                if posts:
                    p, cookie, body = posts[next(counter) % len(posts)]
                    conn.request("POST", p, body=body, headers={
                        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
                else:
                    conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except OSError:
                ok = False
            finally:
                conn.close()
            mine.append((time.perf_counter() - started) * 1000)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")  # noqa: E731
    return Load(len(latencies) / elapsed, pick(0.5), pick(0.99), errors[0], len(latencies))


def page_latency(database_url: str, path: str, n: int = 200) -> dict:
    """One request at a time through the app in this process (Flask's test client, no server, no
    other load): the median time to answer ``path`` and the page's size. The work a page does,
    without the queueing noise of a loaded run."""
    from commonroom.platform.app import create_app

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "FOLLOW": False})
    try:
        client = app.test_client()
        for _ in range(20):
            body = client.get(path).data
        times = []
        for _ in range(n):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        return {"median_ms": times[len(times) // 2], "p90_ms": times[int(len(times) * 0.9)], "bytes": len(body)}
    finally:
        app.extensions["commonroom"].close()


def signup_posts(route: str, pairs: list[tuple[UUID, UUID]]) -> list[tuple[str, str, str]]:
    """One POST per fresh (talk, peer): the peer's own session cookie and CSRF token."""
    posts = []
    cookies: dict[UUID, tuple[str, str]] = {}
    for talk_id, peer_id in pairs:
        if peer_id not in cookies:
            csrf = f"csrf-{peer_id.hex}"
            cookies[peer_id] = (session_cookie(peer_id, csrf), csrf)
        cookie, csrf = cookies[peer_id]
        path = re.sub(r"<[^>]+>", str(talk_id), route)
        posts.append((path, cookie, urlencode({"csrf_token": csrf})))
    return posts
