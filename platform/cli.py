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
    """Empty the views (all by default) and replay every event into them, with progress."""
    projector = services().projector
    head = projector.head()
    started = time.perf_counter()
    with click.progressbar(length=max(head, 1), label="Rebuilding", show_pos=True, show_percent=True,
                           file=sys.stderr) as bar:
        last = [0]

        def progress(position: int, _head: int) -> None:
            bar.update(position - last[0])
            last[0] = position

        read = projector.rebuild(views or None, progress=progress)
    elapsed = time.perf_counter() - started
    rate = read / elapsed if elapsed else 0
    click.echo(f"Rebuilt {', '.join(views) or 'all views'}: {read} events in {elapsed:.2f}s ({rate:,.0f} events/s)")


@projections.command("run")
@click.option("--once", is_flag=True, help="Catch up and exit instead of following.")
@with_appcontext
def projections_run(once: bool) -> None:
    """Follow the event log and keep every view up to date (a long-running worker)."""
    app = services()
    read = app.projector.catch_up()
    click.echo(f"caught up: {read} events")
    if once:
        return
    app.start_following()
    try:
        while True:
            time.sleep(3600)
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
    app = services()
    peer_id = app.people.peer_id_for_email(email)
    if peer_id is None:
        raise click.ClickException(f"no peer registered with {email}")
    app.settle(app.people.grant_organizer(peer_id, by=peer_id))
    click.echo(f"{email} is now an organizer")


@main.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=0, type=int, help="Run under gunicorn with N workers (0: the dev server).")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app."""
    if workers > 0:
        import os

        os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"{host}:{port}",
                                   "--access-logfile", "-", "commonroom.platform.wsgi:app"])
    from commonroom.platform.app import create_app

    create_app().run(host=host, port=port, threaded=True)


if __name__ == "__main__":  # pragma: no cover
    main()
