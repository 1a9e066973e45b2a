"""Real processes on the real PostgreSQL: gunicorn web workers, a projection worker, a load of
HTTP clients, and the faults we inject into them (kill -9, a database restart)."""

from __future__ import annotations

import os
import shutil

import pytest

from stack import BIN, Processes


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/reliability/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def processes(pg_url, tmp_path):
    if not shutil.which(str(BIN / "gunicorn")):
        pytest.fail("gunicorn is not installed in this environment")
    procs = Processes(pg_url, tmp_path)
    yield procs
    procs.stop_all()
