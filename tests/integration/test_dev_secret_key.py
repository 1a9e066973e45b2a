"""The development secret key under instance/: one key for every process that starts together."""

from __future__ import annotations

import multiprocessing
import os

from commonroom.platform.app import _dev_secret_key

ROUNDS = 10


def _key(directory: str, barrier, keys) -> None:
    os.chdir(directory)
    barrier.wait()
    keys.put(_dev_secret_key())


def test_processes_starting_together_agree_on_one_whole_key(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        directory = tmp_path / str(round_)
        directory.mkdir()
        barrier, keys = context.Barrier(4), context.Queue()
        processes = [context.Process(target=_key, args=(str(directory), barrier, keys)) for _ in range(4)]
        for process in processes:
            process.start()
        found = {keys.get(timeout=60) for _ in processes}
        for process in processes:
            process.join(60)
        assert len(found) == 1 and len(found.pop()) == 64
        assert sorted(p.name for p in (directory / "instance").iterdir()) == ["secret_key"]  # no drafts left


def test_the_key_survives_a_restart_and_an_empty_file_is_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    key = _dev_secret_key()
    assert _dev_secret_key() == key == (tmp_path / "instance" / "secret_key").read_text()
    (tmp_path / "instance" / "secret_key").write_text("")
    replaced = _dev_secret_key()
    assert len(replaced) == 64 and replaced != key and _dev_secret_key() == replaced
