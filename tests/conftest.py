"""Shared fixtures: a controllable clock, apps on SQLite and on a real PostgreSQL, Flask clients.

PostgreSQL: each test run creates its own database (``commonroom_test_<pid>_<hex>``) on
127.0.0.1:5432 and drops it at the end; tests get it emptied. Under CI=true a PostgreSQL test
never skips: an unreachable server fails the run.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import date, datetime, time, timedelta, timezone
from uuid import UUID

import pytest

from commonroom.platform.bootstrap import bootstrap
from commonroom.platform.services import Clock
from commonroom.platform.services import SYSTEM_ACTOR
from support import next_weekday, start_programme  # noqa: F401 - re-exported for older imports

PG_ADMIN_URL = os.environ.get("COMMONROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class SettableClock(Clock):
    """Real time unless a test moves it (talks start in the future; attendance needs 'after')."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed or datetime.now(timezone.utc)

    def set(self, moment: datetime) -> None:
        self.fixed = moment

    def advance(self, delta: timedelta) -> None:
        self.fixed = self.now() + delta


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


# --- PostgreSQL -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_database_url():
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            name = f"commonroom_test_{os.getpid()}_{secrets.token_hex(3)}"
            admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as error:  # noqa: BLE001
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {error}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {error}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        # a fresh connection: the server may have restarted during the run (the outage test)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def pg_url(pg_database_url):
    """The run's PostgreSQL database, emptied for this test."""
    import psycopg

    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY")
    return pg_database_url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/commonroom.sqlite3"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/commonroom.sqlite3"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def services(database_url, clock):
    app = bootstrap(database_url, clock=clock)
    yield app
    app.close()


# --- Flask ----------------------------------------------------------------------------------------
@pytest.fixture
def app(sqlite_url, clock):
    from commonroom.platform.app import create_app

    flask_app = create_app({
        "TESTING": True, "DATABASE_URL": sqlite_url, "SECRET_KEY": "test-secret", "FOLLOW": False,
        "CLOCK": clock,
    })
    yield flask_app
    flask_app.extensions["commonroom"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class AuthActions:
    """Register, sign in and post forms (with the CSRF token) as a user would."""

    def __init__(self, client, app) -> None:
        self.client, self.app = client, app

    def csrf(self) -> str:
        page = self.client.get("/login").get_data(as_text=True)
        return CSRF_RE.search(page).group(1)

    def post(self, url: str, data: dict | None = None, **kwargs):
        form = dict(data or {})
        form.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=form, **kwargs)

    def register(self, name="Ada Lovelace", email="ada@example.org", department="Audit",
                 password="correct horse", timezone="Europe/London"):
        return self.post("/register", {"name": name, "email": email, "department": department,
                                       "password": password, "timezone": timezone})

    def login(self, email="ada@example.org", password="correct horse"):
        return self.post("/login", {"email": email, "password": password})

    def logout(self):
        return self.post("/logout")

    def peer_id(self) -> UUID:
        with self.client.session_transaction() as session:
            return UUID(session["peer_id"])

    def make_organizer(self, peer_id: UUID | None = None) -> None:
        services = self.app.extensions["commonroom"]
        peer_id = peer_id or self.peer_id()
        services.settle(services.people.grant_organizer(peer_id, by=SYSTEM_ACTOR))


@pytest.fixture
def auth(client, app) -> AuthActions:
    return AuthActions(client, app)
