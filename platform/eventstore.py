"""The event store: one eventsourcing Application whose notification log feeds every projection.

The database URL picks the recorder: ``sqlite:///path`` -> eventsourcing's built-in SQLite
recorder (WAL, synchronous=FULL), ``postgresql://user@host:port/db`` -> its PostgreSQL recorder.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import nullcontext
from copy import deepcopy
from contextvars import ContextVar
from datetime import date, datetime, time
from typing import Any, Callable, Sequence
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (DatetimeAsISO, JSONTranscoder, Mapper, MapperDeserialisationError,
                                      Notification, Recording, StoredEvent, Transcoding, UUIDAsHex,
                                      find_id_convertor)
from eventsourcing.utils import resolve_topic

from commonroom.domain.lunchday import LunchDay
from commonroom.domain.mentoring import MentoringProgramme, Mentorship
from commonroom.domain.peer import EmailClaim, Peer
from commonroom.domain.programme import Programme
from commonroom.domain.skills import Endorsement, SkillCatalog
from commonroom.domain.talk import Talk
from commonroom.domain.trade import Trade, TradeCircle, TradingProfile
from commonroom.platform.groupcommit import GroupCommitter
from commonroom.platform.sqlitefiles import use_wal
from commonroom.platform.sqlitewriter import MAX_EVENTS as SQLITE_GROUP_MAX, SQLiteGroupWriter
from commonroom.platform.versions import VersionBoard


# The web layer sets this per request; every event saved meanwhile records it as metadata
# (``request_id``) beside the acting peer (``by``), so an event can be traced to its request log.
REQUEST_ID: ContextVar[str | None] = ContextVar("commonroom_request_id", default=None)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class TimeAsISO(Transcoding):
    type = time
    name = "time_iso"

    def encode(self, obj: time) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> time:
        return time.fromisoformat(data)


_UUIDS: dict[str, UUID] = {}


def cached_uuid(text: str) -> UUID:
    """``UUID(text)``, remembered: decoding builds two or three UUIDs per event and a rebuild
    decodes the same few thousand ids over and over (``UUID.__init__`` parses in Python: 2.1 us,
    against 0.14 us for a hit here, timeit). UUIDs are immutable, so sharing one object is safe.
    Bounded like ``projections.base.str_id``."""
    try:
        return _UUIDS[text]
    except KeyError:
        if len(_UUIDS) >= 200_000:
            _UUIDS.clear()
        value = _UUIDS[text] = UUID(text)
        return value


class CachedUUIDAsHex(UUIDAsHex):
    """eventsourcing's ``uuid_hex`` transcoding (same name, same stored form), decoding through
    ``cached_uuid``."""

    def decode(self, data: str) -> UUID:
        return cached_uuid(data)


class FastMapper(Mapper):
    """eventsourcing's ``Mapper``, decoding the same events with less Python per event: what a
    topic resolves to (its class, class version and originator id convertor) is remembered, and
    the JSON is parsed by the transcoder's own decoder without ``JSONDecoder.decode``'s whitespace
    regex (``raw_decode``; anything it does not take whole goes the long way, so errors read as
    before). 6.3 -> 4.6 us an event with the SQLite reading below (``EventStore.read_events``).
    With a cipher, a compressor or another transcoder: ``Mapper``'s way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._topics: dict[str, tuple[type, int, type, Callable[[Any], Any]]] = {}
        decoder = getattr(self.transcoder, "decoder", None)
        self.fast = (self.cipher is None and self.compressor is None and isinstance(self.transcoder, JSONTranscoder)
                     and decoder is not None)
        self._raw_decode = json.JSONDecoder(object_hook=self._hook()).raw_decode if self.fast else None

    def _hook(self) -> Callable[[dict], Any]:
        """The transcoder's object hook (``JSONTranscoder._decode_obj``) with less Python per
        object: ids and timestamps (three objects an event) go straight to ``cached_uuid`` and
        ``datetime.fromisoformat`` while the transcoder still has our transcodings of those names,
        the rest through the transcoding it has. Anything that goes wrong here (an unknown name, a
        bad value) is decoded again the stock way, which raises what it raised. 2.75 -> 2.5 us an
        event for the JSON of the bench history (five alternating rounds)."""
        names = self.transcoder.names
        direct = {name: (transcoding, function) for name, transcoding in names.items()
                  for kind, function in ((CachedUUIDAsHex, cached_uuid), (DatetimeAsISO, datetime.fromisoformat))
                  if type(transcoding) is kind}

        def hook(obj: dict) -> Any:
            if len(obj) == 2:
                try:
                    name, data = obj["_type_"], obj["_data_"]
                except KeyError:
                    return obj
                transcoding = names[name]
                found = direct.get(name)
                if found is not None and found[0] is transcoding:
                    return found[1](data)
                return transcoding.decode(data)
            return obj
        return hook

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if not self.fast:
            return super().to_domain_event(stored_event)
        return self.decode(stored_event.topic, stored_event.state, stored_event.originator_id,
                           stored_event.originator_version)

    def decode(self, topic: str, state: bytes, originator_id: Any, originator_version: int) -> Any:
        """The domain event stored as ``topic`` and ``state`` (``to_domain_event`` without the
        ``StoredEvent``; only when ``fast``)."""
        known = self._topics.get(topic)
        if known is None or known[2] is not type(originator_id):
            cls = resolve_topic(topic)
            known = self._topics[topic] = (cls, getattr(cls, "class_version", 1), type(originator_id),
                                           find_id_convertor(cls, type(originator_id)))
        cls, class_version, _, convert = known
        try:
            try:
                text = state.decode("utf8")
                event_state, end = self._raw_decode(text)
                if end != len(text):
                    raise ValueError("not whole")
            except Exception:
                event_state = self.transcoder.decode(state)  # (as Mapper does: raises what it raised)
        except Exception as e:
            msg = (f"Failed to deserialise state of stored event with topic '{topic}', "
                   f"originator_id '{originator_id}' and originator_version {originator_version}: {e}")
            raise MapperDeserialisationError(msg) from e
        event_state["originator_id"] = convert(originator_id)
        event_state["originator_version"] = originator_version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event


def eventsourcing_env(database_url: str) -> dict[str, str]:
    """Translate COMMONROOM_DATABASE_URL into eventsourcing's environment settings."""
    parts = urlsplit(database_url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        path = database_url.split("://", 1)[1]
        path = path[1:] if path.startswith("/") else path  # sqlite:////abs/path keeps one slash
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path or ":memory:",
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if scheme in ("postgresql", "postgres"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "commonroom",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "8",
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_PRE_PING": "y",
        }
    raise ValueError(f"COMMONROOM_DATABASE_URL must start with sqlite:// or postgresql://, not {database_url!r}")


class FileWriteLock:
    """An exclusive ``flock`` on a file beside a SQLite database, held while one process writes.

    Two processes saving into one SQLite file otherwise meet in SQLite's own lock, whose busy
    handler sleeps (1, 2, 5, 10 ms ...) and polls: under a sign-up load from both gunicorn workers
    those sleeps, not the work, set the latency. A process waiting in ``flock`` is woken by the
    kernel the moment the other releases it. The group commit's leader takes it, and so does a
    thread writing a snapshot; the descriptor is opened per process (a descriptor inherited across
    ``fork`` shares its lock with the parent, so it would not exclude it).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        # An flock belongs to the open file, not the thread: a second thread of the same process
        # would "take" it at once and, letting go, release the first one's. So threads queue on a
        # lock of their own first (one per process: a lock copied by fork may be held forever).
        self._threads: dict[int, threading.Lock] = {}

    def _descriptor(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), pid
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FileWriteLock:
        threads = self._threads.setdefault(os.getpid(), threading.Lock())
        threads.acquire()
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except BaseException:
            threads.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads[os.getpid()].release()


def _file_write_lock(env: dict[str, str]) -> FileWriteLock | None:
    """The write lock of a SQLite database file (None for PostgreSQL or an in-memory database)."""
    name = env.get("SQLITE_DBNAME", "")
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.sqlite" or not name or ":memory:" in name \
            or name.startswith("file:"):
        return None
    return FileWriteLock(f"{name}.write.lock")


def mutate_in_turn(aggregate: Any, domain_events: Any) -> Any:
    """eventsourcing's ``project_aggregate`` without its ``assert isinstance(event,
    CanMutateProtocol)`` per event: a runtime-checkable Protocol, which Python 3.11 checks by
    walking the protocol's attributes (11.7 us an event, timeit). Loading a talk from its snapshot
    replays up to 99 events, so the asserts alone cost a command up to 1.2 ms; py-spy put them at
    9% of a web worker's CPU under the sign-up load. Every stored event and snapshot has ``mutate``."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class EventRepository(Repository):
    """The repository, replaying with ``mutate_in_turn`` unless told otherwise."""

    def get(self, aggregate_id: Any, *, projector_func: Any = mutate_in_turn, **kwargs: Any) -> Any:
        return super().get(aggregate_id, projector_func=projector_func, **kwargs)

    def cached_copy(self, aggregate_id: UUID, version: int) -> Any | None:
        """A copy of the cached aggregate if it stands at ``version``, without asking the store
        (None: not cached, or at another version). Copied under the aggregate's fast-forward lock,
        so a query fast-forwarding the same cached object meanwhile cannot tear the copy."""
        if not self.cache:
            return None
        try:
            cached = self.cache.get(aggregate_id)
        except KeyError:
            return None
        if cached.version != version:
            return None
        lock = self._use_fastforward_lock(aggregate_id)
        try:
            with lock:
                if cached.version != version:
                    return None
                return deepcopy(cached) if self.deepcopy_from_cache else cached
        finally:
            self._disuse_fastforward_lock(aggregate_id)


class _Collected(ProcessingEvent):
    """``ProcessingEvent.collect_events`` tells aggregates from events with two runtime Protocol
    checks (8-12 us each); our aggregates are ``Aggregate``s, which a class check tells at once."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, Aggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


class EventStore(Application):
    """All of Commonroom's aggregates share one store, so projections read one ordered log."""

    name = "Commonroom"
    snapshotting_intervals = {Talk: 100, Programme: 100, Peer: 100, LunchDay: 100, EmailClaim: 100,
                              Trade: 100, TradeCircle: 100, TradingProfile: 100, MentoringProgramme: 100,
                              Mentorship: 100, SkillCatalog: 100, Endorsement: 100}
    log_section_size = 1000

    def __init__(self, database_url: str, extra_env: dict[str, str] | None = None) -> None:
        env = {"AGGREGATE_CACHE_MAXSIZE": "2000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
        env.update(eventsourcing_env(database_url))
        env.update(extra_env or {})
        self.database_url = database_url
        self._listeners: list[Callable[[int], None]] = []
        self._listeners_lock = threading.Lock()
        write_lock = _file_write_lock(env)
        if write_lock is not None:  # a SQLite file: made WAL before eventsourcing opens it
            use_wal(env["SQLITE_DBNAME"], float(env.get("SQLITE_LOCK_TIMEOUT", 5)))
        super().__init__(env=env)
        self.write_lock = write_lock
        self._sqlite_path = env.get("SQLITE_DBNAME", "")
        # Beside the write lock: on SQLite every writer is on this machine and notes what it wrote.
        self.versions = VersionBoard(f"{env['SQLITE_DBNAME']}.versions") if self.write_lock is not None else None
        # On SQLite a group is written by one statement on a connection of its own (see sqlitewriter).
        self.group_writer = SQLiteGroupWriter(env["SQLITE_DBNAME"], self.recorder.events_table_name,
                                              float(env.get("SQLITE_LOCK_TIMEOUT", 5))) \
            if self.write_lock is not None else None
        self.group_commit = GroupCommitter(self.write_encoded, lock=self.write_lock)
        if getattr(self.recorder, "convert_originator_id", None) is not None:
            # The SQLite recorder stores ids as text and parses each row's with UUID(); the
            # PostgreSQL driver returns UUID objects itself and has no such method.
            datastore = getattr(self.recorder, "datastore", None)
            if getattr(datastore, "originator_id_type", "uuid") == "uuid":
                self.recorder.convert_originator_id = cached_uuid
        # SQLite: read_events selects the notifications' columns itself (see there).
        self._select_sql = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.recorder.events_table_name} "
            "WHERE rowid>=? ORDER BY rowid LIMIT ?"
        ) if (self.write_lock is not None and getattr(self.mapper, "fast", False)
              and hasattr(getattr(self.recorder, "datastore", None), "transaction")) else None

    def construct_mapper(self) -> Mapper:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=FastMapper)

    def read_events(self, start: int, limit: int) -> list[tuple[int, Any]]:
        """The notifications from id ``start`` on, at most ``limit``, as (id, domain event) pairs:
        what ``recorder.select_notifications`` and ``mapper.to_domain_event`` give, and on SQLite
        by one query of our own whose rows go straight to ``FastMapper.decode`` (the recorder makes
        a frozen ``Notification`` of each row, read by column name: 2.5 of its 6.3 us an event)."""
        if self._select_sql is None:
            return [(n.id, self.mapper.to_domain_event(n))
                    for n in self.recorder.select_notifications(start=start, limit=limit)]
        return self._decoded(self._select_sql, (start, limit))

    def _decoded(self, sql: str, params: tuple) -> list[tuple[int, Any]]:
        """The rows of ``sql`` (rowid, originator id, version, topic, state) as (id, event) pairs."""
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        decode, convert = self.mapper.decode, self.recorder.convert_originator_id
        return [(row[0], decode(row[3], row[4], convert(row[1]), row[2])) for row in rows]

    @property
    def reads_sqlite_rows(self) -> bool:
        """True on SQLite with the plain JSON mapper: ``read_events`` reads the log's rows itself,
        and ``read_events_leaving_out`` can."""
        return self._select_sql is not None

    @property
    def sqlite_path(self) -> str:
        """The SQLite file of the log."""
        return self._sqlite_path

    def read_events_leaving_out(self, start: int, limit: int, upto: int, topics: Sequence[str]
                                ) -> list[tuple[int, Any]]:
        """``read_events`` up to notification ``upto``, without the events of ``topics`` (a
        replay whose views take those from the log in SQL: ``projections.sqlreplay``). Only
        where ``reads_sqlite_rows``."""
        if self._select_sql is None:
            raise TypeError("reading the log without some topics needs SQLite and the JSON mapper")
        # (no topics: no NOT IN at all; "NOT IN (NULL)" would leave every row out)
        leaving_out = f" AND topic NOT IN ({', '.join('?' for _ in topics)})" if topics else ""
        sql = (f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.recorder.events_table_name} "
               f"WHERE rowid>=? AND rowid<=?{leaving_out} ORDER BY rowid LIMIT ?")
        return self._decoded(sql, (start, upto, *topics, limit))

    def construct_repository(self) -> EventRepository:
        plain = super().construct_repository()
        return EventRepository(
            event_store=plain.event_store, snapshot_store=plain.snapshot_store,
            # (no cache: None; unbounded: a Cache without maxsize, which 0 makes again)
            cache_maxsize=None if plain.cache is None else getattr(plain.cache, "maxsize", 0),
            fastforward=plain.fastforward, fastforward_skipping=plain.fastforward_skipping,
            deepcopy_from_cache=plain.deepcopy_from_cache,
        )

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording]:  # type: ignore[override]
        # Application.save, collecting with _Collected (the deprecated ``notify`` hook left out).
        processing_event = _Collected()
        processing_event.collect_events(*objs, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def construct_env(self, name: str, env: Any = None):  # type: ignore[override]
        # Only our explicit settings: never read the process environment here (one composition root).
        from eventsourcing.utils import Environment

        settings = {"IS_SNAPSHOTTING_ENABLED": "y"}
        settings.update(env or {})
        return Environment(name, settings)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(CachedUUIDAsHex())  # replaces the default one of the same name
        transcoder.register(DateAsISO())
        transcoder.register(TimeAsISO())

    def _record(self, processing_event):  # type: ignore[override]
        # Runs in the saving thread: the request id is this thread's even when another thread's
        # group commit writes the events.
        request_id = REQUEST_ID.get()
        if request_id:
            for domain_event in processing_event.events:
                object.__setattr__(domain_event, "request_id", request_id)
        if processing_event.tracking is not None or processing_event.saved_kwargs:
            return super()._record(processing_event)
        # Encoded here, by the saving thread, before it joins a group: the group's transaction
        # (and SQLite's write lock, which the other web process waits for) then holds only the
        # INSERT and the commit, not the JSON encoding of every event in the group.
        encoded = [(event, self.mapper.to_stored_event(event)) for event in processing_event.events]
        recordings = self.group_commit.record(encoded)
        if self.repository.cache:
            # The saved aggregates are where the store now is: the next command here starts from
            # them (eventsourcing caches them only without fast-forwarding; with it, the next load
            # read back and replayed the event just saved).
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return recordings

    def current_copy(self, aggregate_id: UUID) -> Any | None:
        """The cached aggregate, copied, if the version board says no process has saved it since
        it was cached (None: ask the store). A hint only: see ``platform.versions``."""
        if self.versions is None:
            return None
        latest = self.versions.latest(aggregate_id)
        return None if latest is None else self.repository.cached_copy(aggregate_id, latest)

    def has_moved_on(self, aggregate_id: UUID, version: int) -> bool:
        """Whether the store holds an event of ``aggregate_id`` after ``version``."""
        return bool(self.recorder.select_events(aggregate_id, gt=version, limit=1))

    def write_encoded(self, encoded: Sequence[tuple[Any, StoredEvent]]) -> list[Recording]:
        """Insert events already encoded (``(domain event, stored event)`` pairs) in one
        transaction; the recordings ``EventStore.put`` would return for them."""
        stored = [s for _, s in encoded]
        if self.group_writer is not None and 0 < len(stored) <= SQLITE_GROUP_MAX:
            ids = self.group_writer.insert(stored)
        else:
            ids = self.recorder.insert_events(stored)
        if self.versions is not None:  # committed, and still under the write lock
            for domain_event, _ in encoded:
                self.versions.note(domain_event.originator_id, domain_event.originator_version)
        if not ids:
            return []
        return [Recording(d, Notification(originator_id=s.originator_id, originator_version=s.originator_version,
                                          topic=s.topic, state=s.state, id=n))
                for (d, s), n in zip(encoded, ids, strict=True)]

    def _take_snapshots(self, processing_event) -> None:  # type: ignore[override]
        """Snapshot from the aggregate in hand when it stands exactly at the snapshot's version
        (it was just saved there), instead of replaying its last hundred events from the store as
        ``take_snapshot`` does: that replay cost every hundredth sign-up of a talk several ms."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate is not None else None
            if interval is None or event.originator_version % interval:
                continue
            # Under the write lock like the events: a snapshot written beside it would meet the other
            # process's group in SQLite's lock and its sleeping busy handler, with the lock held.
            with self.write_lock or nullcontext():
                if aggregate.version == event.originator_version:
                    snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                    self.snapshots.put([snapshot_class.take(aggregate)])
                else:  # more events of it in this save: take the snapshot at that version from the store
                    self.take_snapshot(event.originator_id, version=event.originator_version)

    def close(self) -> None:
        if self.write_lock is not None:
            self.write_lock.close()
        if self.versions is not None:
            self.versions.close()
        if self.group_writer is not None:
            self.group_writer.close()
        super().close()

    def on_saved(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(max_notification_id)`` after every save in this process."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def _notify(self, recordings) -> None:  # type: ignore[override]
        ids = [r.notification.id for r in recordings if r.notification.id is not None]
        if ids:
            for listener in list(self._listeners):
                listener(max(ids))

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0
