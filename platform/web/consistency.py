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

from flask import current_app, session

SESSION_KEY = "seen"


def after_command(position: int) -> None:
    """Call after a form's command succeeded, before redirecting to the page that shows it."""
    sess = session._get_current_object()  # (one proxy lookup: see app._register_hooks)
    if position and position > sess.get(SESSION_KEY, 0):
        sess[SESSION_KEY] = position


def settle_for_session(req, sess) -> None:
    """Before any request reads a view: reflect every command this session made (a no-op for most).
    ``req`` and ``sess`` are the request and its session (the objects, not Flask's proxies)."""
    seen = sess.get(SESSION_KEY)
    if not seen or req.endpoint == "static" or req.blueprint == "health":
        return
    if isinstance(seen, int):
        current_app.extensions["commonroom"].settle(seen)
    sess.pop(SESSION_KEY, None)
