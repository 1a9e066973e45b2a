"""On SQLite the read models live in a file of their own: projection batches never hold up an
event save, and the views can always be made again from the events."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from commonroom.platform.bootstrap import bootstrap, views_url
from core_given import a_peer, a_scheduled_talk, an_organizer
from test_projections import snapshot_of_every_table


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_views_url_puts_the_views_beside_the_events():
    assert views_url("sqlite:///instance/commonroom.sqlite3") == "sqlite:///instance/commonroom.views.sqlite3"
    assert views_url("sqlite:////abs/db") == "sqlite:////abs/db.views.sqlite3"
    assert views_url("postgresql://postgres@127.0.0.1:5432/x") == "postgresql://postgres@127.0.0.1:5432/x"
    with pytest.raises(ValueError):
        views_url("sqlite://")


def a_history(url: str, organizer: bool = True):
    app = bootstrap(url)
    if organizer:
        an_organizer(app)
    talk_id = a_scheduled_talk(app, a_peer(app, "Sam Speaker"), days_ahead=7)
    for name in ("Bea One", "Cy Two", "Di Three"):
        app.talks.sign_up(talk_id, a_peer(app, name))
    app.settle()
    return app


def test_events_and_views_are_two_files_and_deleting_the_views_loses_nothing(tmp_path):
    events = tmp_path / "commonroom.sqlite3"
    views = tmp_path / "commonroom.views.sqlite3"
    app = a_history(f"sqlite:///{events}")
    expected = snapshot_of_every_table(app)
    app.close()
    # the events file holds the events, the views file the read models and their tracking
    assert any("events" in t for t in tables(events))
    assert "projection_tracking" in tables(views) and "projection_tracking" not in tables(events)
    assert not any("events" in t for t in tables(views))
    # when the views file is deleted and the app starts again
    for suffix in ("", "-wal", "-shm"):
        Path(f"{views}{suffix}").unlink(missing_ok=True)
    again = bootstrap(f"sqlite:///{events}")
    again.settle()
    # then the read models are made again from the events, row for row
    assert snapshot_of_every_table(again) == expected
    again.close()


def test_views_that_read_further_than_the_events_file_holds_are_rebuilt(tmp_path):
    # given a copy of the events taken early (a backup), and the app going on after it
    events = tmp_path / "commonroom.sqlite3"
    app = bootstrap(f"sqlite:///{events}")
    an_organizer(app)
    app.settle()
    app.close()
    early = tmp_path / "early.sqlite3"
    shutil.copy(events, early)
    app = a_history(f"sqlite:///{events}", organizer=False)
    app.close()
    # when the early events file is put back under the same views
    for suffix in ("-wal", "-shm"):
        Path(f"{events}{suffix}").unlink(missing_ok=True)
    shutil.copy(early, events)
    restored = bootstrap(f"sqlite:///{events}")
    # then the views no longer describe events that are not there
    head = restored.store.max_notification_id()
    assert all(position <= head for position in restored.projector.positions().values())
    restored.settle()
    peers = snapshot_of_every_table(restored)["peers"]
    assert len(peers) == 1  # only the organizer, as in the early events (not the speaker, not Bea...)
    restored.close()
