"""Processes started together on a new SQLite database all start (see platform/sqlitefiles.py)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import traceback

import pytest

from commonroom.platform.bootstrap import bootstrap, views_url
from commonroom.platform.sqlitefiles import use_wal

ROUNDS = 12


def _start(url: str, barrier, errors) -> None:
    barrier.wait()
    try:
        bootstrap(url).close()
    except BaseException:  # noqa: BLE001 - reported to the test
        errors.put(traceback.format_exc())


def test_processes_started_together_on_a_new_database_all_start(tmp_path):
    # Before use_wal, both asked SQLite to switch the new file to WAL at once and one of them got
    # "database is locked" (no busy wait for that): about one start in ten, a worker exiting.
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for round_ in range(ROUNDS):
        url = f"sqlite:///{tmp_path}/r{round_}/db.sqlite3"
        barrier = context.Barrier(3)
        processes = [context.Process(target=_start, args=(url, barrier, errors)) for _ in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
        assert [process.exitcode for process in processes] == [0, 0, 0]
        assert errors.empty(), errors.get()
        for path in (url, views_url(url)):
            with sqlite3.connect(path.split("///", 1)[1]) as connection:
                assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_use_wal_waits_for_a_writer_holding_the_new_file(tmp_path):
    path = tmp_path / "db.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE t (x)")
    released = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        use_wal(path, timeout=10)  # it waits rather than failing at once
    finally:
        released.join()
        holder.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_use_wal_gives_up_after_its_timeout_naming_the_file(tmp_path):
    path = tmp_path / "db.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE t (x)")
    try:
        with pytest.raises(sqlite3.OperationalError):
            use_wal(path, timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
