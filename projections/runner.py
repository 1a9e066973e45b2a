"""Runs read models over the event log, exactly once.

Each batch of notifications is decoded once and applied to every view that has not yet seen it;
the view rows and the views' tracking positions are written in one transaction that first locks
the tracking rows (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite). Two
runners (threads or processes) therefore never apply the same event twice, and a crash between
batches loses nothing: the next run starts from the committed position.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from commonroom.projections.base import Base, Projection, Tracking

Progress = Callable[[int, int], None]  # (position reached, head of the log)


@dataclass(frozen=True)
class ViewStatus:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class Projector:
    def __init__(self, engine: sa.Engine, recorder, mapper, views: Sequence[Projection],
                 batch_size: int = 1000, read_engine: sa.Engine | None = None) -> None:
        self.engine, self.recorder, self.mapper = engine, recorder, mapper
        # Reading positions must not take the write lock (SQLite's write engine begins IMMEDIATE).
        self.read_engine = read_engine or engine
        self.views = list(views)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._advanced = threading.Condition()

    # --- set-up and status ----------------------------------------------------------------------
    def setup(self) -> None:
        Base.metadata.create_all(self.engine)
        with Session(self.engine) as s, s.begin():
            known = set(s.scalars(sa.select(Tracking.name)))
            for view in self.views:
                if view.name not in known:
                    s.add(Tracking(name=view.name, position=0))

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def positions(self) -> dict[str, int]:
        with self.read_engine.connect() as c:
            rows = c.execute(sa.select(Tracking.name, Tracking.position)).all()
        found = dict(rows)
        return {v.name: found.get(v.name, 0) for v in self.views}

    def status(self) -> list[ViewStatus]:
        head = self.head()
        return [ViewStatus(name, position, head) for name, position in self.positions().items()]

    def view(self, name: str) -> Projection:
        for view in self.views:
            if view.name == name:
                return view
        raise KeyError(f"no view called {name!r} (there are: {', '.join(v.name for v in self.views)})")

    # --- processing -----------------------------------------------------------------------------
    def catch_up(self, progress: Progress | None = None, until: int | None = None) -> int:
        """Apply every event not yet applied; return how many notifications were read."""
        read = 0
        with self._lock:
            while True:
                start = min(self.positions().values(), default=0)
                if until is not None and start >= until:
                    break
                notifications = self.recorder.select_notifications(start=start + 1, limit=self.batch_size)
                if not notifications:
                    break
                events = [(n.id, self.mapper.to_domain_event(n)) for n in notifications]
                self._apply(events, notifications[-1].id)
                read += len(notifications)
                if progress is not None:
                    progress(notifications[-1].id, self.head())
                with self._advanced:
                    self._advanced.notify_all()
                if len(notifications) < self.batch_size:
                    break
        return read

    def _apply(self, events: list[tuple[int, object]], last_id: int) -> None:
        with Session(self.engine, autoflush=True) as s, s.begin():
            tracked = {t.name: t for t in s.scalars(
                sa.select(Tracking).where(Tracking.name.in_([v.name for v in self.views])).with_for_update())}
            for view in self.views:
                tracking = tracked.get(view.name)
                if tracking is None:
                    tracking = Tracking(name=view.name, position=0)
                    s.add(tracking)
                if tracking.position >= last_id:
                    continue  # another runner got here first
                for notification_id, event in events:
                    if notification_id > tracking.position:
                        view.handle(event, s)
                tracking.position = last_id

    def rebuild(self, names: Iterable[str] | None = None, progress: Progress | None = None) -> int:
        """Empty the named views (all by default) and replay the whole log into them."""
        chosen = [self.view(n) for n in names] if names else self.views
        with self._lock, Session(self.engine) as s, s.begin():
            s.scalars(sa.select(Tracking).with_for_update()).all()
            for view in chosen:
                view.reset(s)
                s.merge(Tracking(name=view.name, position=0))
        return self.catch_up(progress=progress)

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Block until every view has reached ``position`` (for workers that do not project inline)."""
        deadline = time.monotonic() + timeout
        delay = 0.002
        while min(self.positions().values(), default=0) < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._advanced:
                self._advanced.wait(min(delay, remaining))
            delay = min(delay * 2, 0.05)
        return True
