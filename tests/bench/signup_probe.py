"""The sign-up POST alone, with where the CPU went: for trying a change to the write path quickly.

    .venv/bin/python tests/bench/signup_probe.py [--runs 3] [--mode signup|session] [--threads N]

A fresh 10k history (``bench_history.generate``) in a temporary directory, the bench's server
(gunicorn -w 2 beside a projection worker), then wrk runs of fresh sign-ups (or the same POSTs to
``/bench/session-post``, the command-less ceiling). Each run prints the rate, the CPU each
process used (cores, from /proc), the machine's user/system/idle/steal shares, and at the end
each web process's group-commit counters (``/readyz``: groups, saves, and per turn of the write
lock how long the leader waited for it and held it). The figures in docs/benchmarks.md's
analysis of the write path (threads per worker, the projection worker's share, saves per fsync)
were taken this way; runs minutes apart differ by 10-30% on this machine, so compare
configurations in interleaved runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_http  # noqa: E402
from bench_history import generate  # noqa: E402

from commonroom.platform.bootstrap import bootstrap  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--mode", choices=("signup", "session"), default="signup")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per web worker, as `commonroom serve --threads` (1: the sync workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/probe.sqlite3"
        app = bootstrap(url, inline_projections=False)
        history = generate(app, 10_000, say=lambda *_: None)
        app.close()
        # wrk (installed with apt-get when missing, as make bench does), else the Python load generator
        run_load = bench_http.run_load(bench_http.load_generator())
        server = bench_http.Server(url, threads=args.threads)
        try:
            route = server.route("/sign-up", "POST")
            pids = {**{f"web {pid}": pid for pid in server.worker_pids()}, "projector": server.projector.pid}
            for _ in range(args.runs):
                posts = bench_http.signup_posts(route, history.pairs(8000))
                if args.mode == "session":
                    posts = [(re.sub(r"^/talks/([^/]+)/.*$", r"/bench/session-post/\1", p), c, b) for p, c, b in posts]
                before, stat, started = {n: cpu_seconds(p) for n, p in pids.items()}, machine(), time.monotonic()
                load = run_load(server.base, "/", args.seconds, posts)
                elapsed, after = time.monotonic() - started, machine()
                total = sum(after) - sum(stat)
                share = dict(zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"),
                                 (round(100 * (b - a) / total) for a, b in zip(stat, after))))
                cores = {n: round((cpu_seconds(p) - before[n]) / elapsed, 2) for n, p in pids.items()}
                print(f"{load.rate:,.0f} req/s, p50 {load.p50_ms} ms, p99 {load.p99_ms} ms, errors {load.errors}; "
                      f"cores {cores}; machine % {share}", flush=True)
            seen = {}
            for _ in range(20):  # each answer comes from one of the web processes
                body = json.loads(bench_http.get(server.port, "/readyz")[1])["process"]
                seen[body["pid"]] = body["group_commit"]
            print("group commit per web process:", seen)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
