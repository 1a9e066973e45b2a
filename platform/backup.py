"""Event export and import: the whole event log as JSON lines, in constant memory.

One line per stored event, in notification order::

    {"id": 1, "originator_id": "...", "originator_version": 1, "topic": "commonroom.domain...",
     "state": "{\\"name\\": ...}"}

``state`` is the stored bytes decoded as UTF-8 (the store keeps JSON without compression or
encryption), so an import writes back exactly the bytes that were exported. Snapshots are not
exported: they are a cache that the store rebuilds from the events. An import writes into an
empty store only, in the exported order; the store numbers the notifications afresh (the same
numbers when the exported log had no gaps) and the read models are then built from them. An
export read from a file is checked whole before anything is written; one read from a pipe is
written batch by batch, so a bad line late in a pipe leaves the batches before it in the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from commonroom.platform.bootstrap import Commonroom

PAGE_SIZE = 1000
Progress = Callable[[int], None]  # events handled in the last step


class ImportRefused(Exception):
    """The target store is not empty (an import never merges into existing history)."""


def export_events(app: Commonroom, out: IO[str], *, progress: Progress | None = None,
                  page_size: int = PAGE_SIZE) -> int:
    """Write every stored event to ``out`` as one JSON object a line; return how many."""
    written, start = 0, 1
    while True:
        page = app.store.recorder.select_notifications(start=start, limit=page_size)
        for notification in page:
            out.write(json.dumps({
                "id": notification.id,
                "originator_id": str(notification.originator_id),
                "originator_version": notification.originator_version,
                "topic": notification.topic,
                "state": notification.state.decode("utf-8"),
            }, ensure_ascii=False))
            out.write("\n")
        written += len(page)
        if progress is not None and page:
            progress(len(page))
        if len(page) < page_size:
            return written
        start = page[-1].id + 1


def read_events(lines: IO[str]) -> Iterator[StoredEvent]:
    """The stored events of an export, one at a time (a bad line names its line number)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            yield StoredEvent(
                originator_id=UUID(record["originator_id"]),
                originator_version=int(record["originator_version"]),
                topic=str(record["topic"]),
                state=record["state"].encode("utf-8"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"line {number} is not an exported event: {error}") from None


def import_events(app: Commonroom, lines: IO[str], *, progress: Progress | None = None,
                  batch_size: int = PAGE_SIZE) -> int:
    """Write an export into this EMPTY store, in order, then bring the read models up to date."""
    existing = app.store.max_notification_id()
    if existing:
        raise ImportRefused(
            f"the event store already holds {existing} events; import only into an empty store")
    if lines.seekable():  # a file: check every line before writing any, so a bad export writes nothing
        for _ in read_events(lines):
            pass
        lines.seek(0)
    imported, batch = 0, []
    for stored_event in read_events(lines):
        batch.append(stored_event)
        if len(batch) == batch_size:
            imported += _insert(app, batch, progress)
            batch = []
    if batch:
        imported += _insert(app, batch, progress)
    app.projector.catch_up()
    return imported


def _insert(app: Commonroom, batch: list[StoredEvent], progress: Progress | None) -> int:
    app.store.recorder.insert_events(batch)
    if progress is not None:
        progress(len(batch))
    return len(batch)
