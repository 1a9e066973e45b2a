"""The ``commonroom`` command line (a Flask/click group)."""

from __future__ import annotations

import sys
import time

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext


def _create_app():
    from commonroom.platform.app import create_app

    return create_app({"FOLLOW": False})


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main() -> None:
    """Commonroom: lunch talks, trades of expertise, who knows what."""


def services():
    return current_app.extensions["commonroom"]


# --- projections ----------------------------------------------------------------------------------
@main.group()
def projections() -> None:
    """Read models: status, rebuild, run."""


@projections.command("status")
@with_appcontext
def projections_status() -> None:
    """Each view's position in the event log and how far behind it is."""
    rows = services().projector.status()
    click.echo(f"{'view':<16}{'position':>12}{'head':>12}{'lag':>10}")
    for row in rows:
        click.echo(f"{row.name:<16}{row.position:>12}{row.head:>12}{row.lag:>10}")


@projections.command("rebuild")
@click.argument("views", nargs=-1)
@with_appcontext
def projections_rebuild(views: tuple[str, ...]) -> None:
    """Rebuild the views (all by default) by replaying every event, with progress.

    On SQLite from 20,000 events (``rebuild.parallel_from``) the views are rebuilt on both cores
    into scratch files and swapped in at the end, so the live views keep their rows meanwhile
    (``platform/rebuild.py``); otherwise in place, in one transaction up to 100,000 events
    (readers see the old rows until it commits), emptied and refilled beyond that."""
    from commonroom.platform.rebuild import rebuild

    projector = services().projector
    head = projector.head()
    started = time.perf_counter()
    with click.progressbar(length=max(head, 1), label="Rebuilding", show_pos=True, show_percent=True,
                           file=sys.stderr) as bar:
        last = [0]

        def progress(position: int, _head: int) -> None:
            bar.update(position - last[0])
            last[0] = position

        read = rebuild(services(), views or None, progress=progress)  # both cores on SQLite
    elapsed = time.perf_counter() - started
    rate = read / elapsed if elapsed else 0
    click.echo(f"Rebuilt {', '.join(views) or 'all views'}: {read} events in {elapsed:.2f}s ({rate:,.0f} events/s)")


# Waits between attempts to reach the database when a worker starts before it is there.
START_RETRY_SECONDS = (0.5, 1, 2, 5)


def _load_app_when_reachable(stop) -> object | None:
    """The app, once its database answers: a worker started during an outage (or before the
    database was created) waits for it, saying so, instead of exiting. None if stopped first."""
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError
    from flask.cli import ScriptInfo
    from sqlalchemy.exc import DBAPIError

    info = click.get_current_context().ensure_object(ScriptInfo)
    attempt = 0
    while not stop.is_set():
        try:
            return info.load_app()
        # (sqlite3.Error: a driver's error that its library let through unwrapped)
        except (PersistenceError, DBAPIError, psycopg.OperationalError, sqlite3.Error, OSError) as error:
            wait = START_RETRY_SECONDS[min(attempt, len(START_RETRY_SECONDS) - 1)]
            click.echo(f"the database is not reachable yet ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
                       f"retrying in {wait:g} s", err=True)
            attempt += 1
            stop.wait(wait)
    return None


@projections.command("run", with_appcontext=False)  # it loads the app itself, waiting for the database
@click.option("--once", is_flag=True, help="Catch up and exit instead of following.")
@click.option("--views", default="", help="Comma-separated view group (default: all views).")
def projections_run(once: bool, views: str) -> None:
    """Follow the event log and keep the views up to date (a long-running worker).

    Only one worker per view group runs at a time: a second one waits on the group's lock.
    SIGTERM or Ctrl-C stops it after the current batch. Started while the database is away, it
    waits for it.
    """
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    flask_app = _load_app_when_reachable(stop)
    if flask_app is None:
        return
    with flask_app.app_context():
        _run_projections(once, views, stop)


def _run_projections(once: bool, views: str, stop) -> None:
    from commonroom.platform.logs import configure_logging
    from commonroom.platform.worker import group_projector, run_worker

    app = services()
    chosen = [v.strip() for v in views.split(",") if v.strip()] or None
    try:
        for name in chosen or []:
            app.projector.view(name)
    except KeyError as error:
        raise click.BadParameter(str(error.args[0]), param_hint="--views") from None
    if once:
        read = group_projector(app, chosen).catch_up()
        click.echo(f"caught up: {read} events")
        return
    configure_logging()
    try:
        run_worker(app, chosen, stop,
                   on_wait=lambda: click.echo("another worker holds this view group; waiting for its lock", err=True))
    except KeyboardInterrupt:
        pass
    finally:
        app.close()


# --- people ---------------------------------------------------------------------------------------
@main.group()
def peers() -> None:
    """Peers and roles."""


@peers.command("grant-organizer")
@click.argument("email")
@with_appcontext
def grant_organizer(email: str) -> None:
    """Make the peer with EMAIL an organizer."""
    from commonroom.platform.services import SYSTEM_ACTOR

    app = services()
    peer_id = app.people.peer_id_for_email(email)
    if peer_id is None:
        raise click.ClickException(f"no peer registered with {email}")
    app.settle(app.people.grant_organizer(peer_id, by=SYSTEM_ACTOR))  # the operator
    click.echo(f"{email} is now an organizer")


# --- demo and backup ------------------------------------------------------------------------------
@main.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing (and say so) when the store already has events.")
@click.option("--peers", default=48, show_default=True, type=click.IntRange(10, 1000),
              help="How many people.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Random seed: the same seed, the same story.")
@with_appcontext
def demo(if_empty: bool, peers: int, seed: int) -> None:
    """Seed a demo organisation: three months of lunch talks and the next four weeks."""
    from commonroom.platform.demo import DEMO_PASSWORD, seed_demo

    app = services()
    existing = app.store.max_notification_id()
    if existing:
        message = f"the event store already has {existing} events; the demo seeds an empty store only"
        if if_empty:
            click.echo(f"{message}: nothing to do")
            return
        raise click.ClickException(f"{message} (use --if-empty to skip quietly)")
    with click.progressbar(length=1000, label="Seeding the demo", file=sys.stderr) as bar:
        done = [0]

        def progress(fraction: float) -> None:
            reached = min(int(fraction * 1000), 1000)
            bar.update(reached - done[0])
            done[0] = reached

        summary = seed_demo(app, peers=peers, seed=seed, on_progress=progress)
    click.echo(f"Seeded {summary.peers} peers, {summary.talks} talks, {summary.sign_ups} sign-ups, "
               f"{summary.attendance} attendance marks, {summary.feedback} ratings, {summary.trades} trades "
               f"({summary.sessions} sessions, {summary.circles} circle), {summary.mentorships} mentorships, "
               f"{summary.endorsements} endorsements: {summary.events} events in {summary.seconds:.1f}s")
    click.echo(f"Sign in as {', '.join(summary.organizers)} (organizer) or any peer such as "
               f"grace@example.org; every password is {DEMO_PASSWORD!r}")


@main.group()
def events() -> None:
    """The event log: export and import as JSON lines."""


@events.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8", lazy=True))
@with_appcontext
def events_export(file) -> None:
    """Write every event to FILE (- for stdout), one JSON object a line."""
    from commonroom.platform.backup import export_events

    app = services()
    with click.progressbar(length=max(app.store.max_notification_id(), 1), label="Exporting",
                           file=sys.stderr) as bar:
        written = export_events(app, file, progress=bar.update)
    click.echo(f"exported {written} events", err=True)


@events.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@with_appcontext
def events_import(file) -> None:
    """Load an export from FILE (- for stdin) into an empty store, then build the read models."""
    from commonroom.platform.backup import ImportRefused, import_events

    app = services()
    started = time.perf_counter()
    count = [0]

    def progress(batch: int) -> None:  # the length of an import read from a pipe is unknown
        count[0] += batch
        click.echo(f"\rImporting: {count[0]} events", nl=False, err=True)

    try:
        imported = import_events(app, file, progress=progress)
    except (ImportRefused, ValueError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        if count[0]:
            click.echo(err=True)
    elapsed = time.perf_counter() - started
    click.echo(f"imported {imported} events in {elapsed:.1f}s; read models are up to date")


def gunicorn_options(threads: int = 1) -> list[str]:
    """gunicorn's worker class: by default its plain ``sync`` workers, one request at a time per
    process (``platform/gunicorn_sync.py``: without lingering after each answer); with
    ``threads`` > 1 its threaded ``gthread`` workers.

    Sync workers were faster for every page on the bench's 2-core machine (threads in one process
    hand Python's GIL to each other); threads still pay for group commit on a slow-fsync disk and
    for kept-alive connections. Figures and trade-offs: README ("Command line") and
    docs/benchmarks.md; the benchmarks serve with these options.

    Without gunicorn's control socket (25.1 and later open one at ``~/.gunicorn/gunicorn.ctl``, the
    same path for every server a user runs: a second server on the machine took the first one's
    socket over); signals manage the server as before."""
    import gunicorn

    control = ["--no-control-socket"] if gunicorn.version_info >= (25, 1) else []
    return [*(["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", SYNC_WORKER]), *control]


# gunicorn's sync worker, closing each connection at once when its request was read whole
SYNC_WORKER = "commonroom.platform.gunicorn_sync.SyncWorker"


@main.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=0, type=int, help="Run under gunicorn with N workers (0: the dev server).")
@click.option("--threads", default=1, type=click.IntRange(min=1),
              help="With --workers: N threads per worker (gunicorn's gthread workers; 1: its sync workers).")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app.

    With ``--workers N`` (and ``COMMONROOM_FOLLOW`` not set), the read models are kept
    current by a projection worker process beside gunicorn rather than by a thread inside one of
    its workers, which would then carry the projecting on top of its requests (sign-ups ~15%
    faster measured this way); it is restarted if it stops, and stopped with the server."""
    if workers > 0:
        import os

        # no gunicorn access log: the app logs each request as one JSON line (README, "Logs")
        gunicorn = [sys.executable, "-m", "gunicorn", "-w", str(workers), *gunicorn_options(threads), "-b", f"{host}:{port}",
                    "commonroom.platform.wsgi:app"]
        # on SQLite the projector polls the log every 20 ms, on PostgreSQL LISTEN/NOTIFY wakes it
        if "COMMONROOM_FOLLOW" not in os.environ:
            sys.exit(_serve_beside_a_projector(gunicorn))
        os.execvp(sys.executable, gunicorn)
    from werkzeug.serving import run_simple

    from commonroom.platform.app import create_app

    # Flask ignores app.run() inside a flask CLI command, so serve with werkzeug directly.
    click.echo(f"Serving Commonroom on http://{host}:{port} (Ctrl-C to stop)")
    run_simple(host, port, create_app(), threaded=True, use_reloader=False)


def _serve_beside_a_projector(gunicorn: list[str]) -> int:
    """Run gunicorn (its workers not following the log) and ``projections run`` side by side until
    gunicorn exits; pass SIGTERM, SIGINT and SIGHUP on to both; start the projector again if it
    stops on its own. Returns gunicorn's exit status."""
    import os
    import signal
    import subprocess

    env = dict(os.environ, COMMONROOM_FOLLOW="0")
    projector_argv = [sys.executable, "-m", "commonroom.platform.cli", "projections", "run"]
    web = subprocess.Popen(gunicorn, env=env)
    projector = subprocess.Popen(projector_argv, env=env)
    stopping = []

    def forward(signum, _frame) -> None:
        stopping.append(signum)
        for child in (web, projector):
            if child.poll() is None:
                child.send_signal(signum)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        while web.poll() is None:
            if projector.poll() is not None and not stopping:
                click.echo(f"the projection worker stopped (exit {projector.returncode}); starting it again", err=True)
                projector = subprocess.Popen(projector_argv, env=env)
            try:
                web.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if projector.poll() is None:
            projector.terminate()
        try:
            projector.wait(timeout=20)
        except subprocess.TimeoutExpired:
            projector.kill()
            projector.wait()
    code = web.returncode
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


if __name__ == "__main__":  # pragma: no cover
    main()
