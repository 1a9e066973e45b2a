"""Read-your-writes for the HTML pages, without projecting inside the command's own request.

A form POST runs its command, remembers the command's log position in the session and redirects
(Post/Redirect/Get). The read models catch up in the background meanwhile (the in-process
follower, or the projection worker); the next page this browser asks for first makes sure the
read models have reached that position (``settle``: usually already true, a memory check; else
it waits for the worker or projects inline), so the person who acted always sees their change,
and nobody waits on a fixed sleep. The POST itself costs one event save, and the projection work
is done in batches across many commands instead of once per command.

JSON API commands answer with the changed resource read from the read models, so they still
settle inside their own request (see ``api.py``).
"""

from __future__ import annotations

from flask import current_app, request, session

SESSION_KEY = "seen"


def after_command(position: int) -> None:
    """Call after a form's command succeeded, before redirecting to the page that shows it."""
    if position and position > session.get(SESSION_KEY, 0):
        session[SESSION_KEY] = position


def settle_for_session() -> None:
    """Before any request reads a view: reflect every command this session made (a no-op for most)."""
    seen = session.get(SESSION_KEY)
    if not seen or request.endpoint == "static" or request.blueprint == "health":
        return
    if isinstance(seen, int):
        current_app.extensions["commonroom"].settle(seen)
    session.pop(SESSION_KEY, None)
