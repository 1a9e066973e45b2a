"""Database engines and where the read models live: what a process that only rebuilds views
needs (the second process of ``platform.rebuild``), without the services and the web app."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from commonroom.platform.sqlitefiles import use_wal


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def views_url(database_url: str) -> str:
    """Where the read models live. On PostgreSQL: the events' database. On SQLite: a file of their
    own beside the events' (``x.sqlite3`` -> ``x.views.sqlite3``). SQLite has one writer per
    file; sharing it, every projection batch held up every event save behind it. The views are
    derived data: delete their file and a rebuild (``commonroom projections rebuild``, or simply
    starting the app) makes them again from the events, exactly once (rows and tracking share the
    views' file and commit together)."""
    if not is_sqlite(database_url):
        return database_url
    prefix, path = database_url.split("://", 1)
    if path in ("", "/", "/:memory:"):
        raise ValueError("SQLite needs a file (sqlite:///path/to/commonroom.sqlite3), not memory")
    file = Path(path[1:])
    return f"{prefix}:///{file.with_name(file.stem + '.views' + (file.suffix or '.sqlite3'))}"


def make_engine(url: str, *, immediate: bool = False) -> sa.Engine:
    """SQLAlchemy engine on the same database as the events.

    On SQLite, ``immediate`` engines start write transactions with BEGIN IMMEDIATE, so a
    projection batch takes the database's write lock before it reads its tracking position.
    """
    if is_sqlite(url):
        path = url.split("://", 1)[1][1:]
        use_wal(path)  # once per file, before the connections below ask for it (see sqlitefiles)
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Events are written by eventsourcing's own connections with synchronous=FULL: an
            # acknowledged event survives a power cut. Read models are derived: their rows and
            # tracking commit together, so losing the last few projection commits in a power cut
            # only means replaying those events. NORMAL skips the fsync at each projection commit.
            cursor.execute("PRAGMA synchronous=NORMAL" if immediate else "PRAGMA synchronous=FULL")
            # Debian builds SQLite with SECURE_DELETE: every page a delete frees is overwritten
            # with zeros, one more page write each (dropping a rebuild's swapped-out talk_versions
            # at 1.12M events: 2.0 s against 0.6 s). FAST still zeroes deleted rows inside the
            # pages it writes anyway. The read models hold nothing the event store does not keep
            # forever, so overwriting freed pages protected nothing.
            cursor.execute("PRAGMA secure_delete=FAST")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith(("postgresql", "postgres")):
        rest = url.split("://", 1)[1]
        # Small pools: a gunicorn worker serves a handful of requests at once, and PostgreSQL's
        # default max_connections (100) is shared by every web worker and projection worker.
        size, overflow = (2, 4) if immediate else (4, 8)
        engine = sa.create_engine(f"postgresql+psycopg://{rest}", pool_size=size, max_overflow=overflow,
                                  pool_pre_ping=True, pool_timeout=10)
        if immediate:
            # Same reasoning as SQLite's synchronous=NORMAL above: projection commits need to be
            # atomic (rows + tracking), not durable; events keep synchronous_commit on.
            @sa.event.listens_for(engine, "connect")
            def _connect(dbapi_connection, _record) -> None:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SET synchronous_commit = off")
                dbapi_connection.commit()

        return engine
    raise ValueError(f"unsupported database URL {url!r}")
