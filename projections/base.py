"""What every read model shares: the SQLAlchemy metadata, the tracking table, the handler base."""

from __future__ import annotations

import functools
import inspect
import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, ClassVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


_ID_TEXT: dict[int, str] = {}


def str_id(value: Any) -> str:
    """``str(value)``; for a UUID, remembered: ``UUID.__str__`` formats in Python (~1.5 us) and a
    rebuild converts the same few thousand ids ~90k times (every view keys its rows by them)."""
    if type(value) is not UUID:
        return str(value)
    try:
        return _ID_TEXT[value.int]
    except KeyError:
        if len(_ID_TEXT) >= 200_000:  # bounded: a long-lived process sees ids come and go
            _ID_TEXT.clear()
        text = _ID_TEXT[value.int] = str(value)
        return text


class UTCDateTime(sa.types.TypeDecorator):
    """An instant, read back timezone-aware in UTC on every backend.

    ``sa.DateTime(timezone=True)`` on SQLite drops the offset and keeps the wall time it was given
    (so 12:00 Europe/London and 12:00 UTC were stored alike and read back naive); this stores UTC
    and attaches it again on the way out, so rows and comparisons mean the same on both backends.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Tracking(Base):
    """How far each view has read the event log. Written in the same transaction as its rows."""

    __tablename__ = "projection_tracking"
    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    position: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Projection:
    """One read model. Subclasses list their tables and define ``handle`` as their own
    ``singledispatchmethod`` with one handler per event type (a shared dispatcher would mix the
    views' handlers). Events without a handler are ignored; tracking still moves past them.

    Two interfaces; the runner picks by ``batched``:

    - ``batched = False`` (the default, the original one): ``handle(event, session)`` gets the
      batch's ORM ``Session``. Simple, but every ``s.get`` miss, ``s.merge`` and autoflushing query
      is a round trip per event: a few hundred events a second.
    - ``batched = True`` (the fast one, used by every view of the app):
      ``handle(event, rows)`` gets a ``Rows`` (below), the batch's rows held in memory. Before the
      handlers run, ``prefetch(events, rows)`` names the keys the batch will touch so each table is
      read with one query (``rows.load(Model, ids)``); handlers then read and change plain row
      objects (``rows.get / group / put / delete``) and the runner writes every insert, update and
      delete in bulk, in the transaction that moves the tracking position. Tens of thousands of
      events a second. To convert a view: set ``batched = True``, replace ``s.merge(Model(...))``
      by ``rows.put(Model, ...)``, ``s.get(Model, key)`` by ``rows.get(Model, key)``,
      ``s.delete(row)`` by ``rows.delete(Model, key)``, queries over one key prefix by
      ``rows.group(Model, first)``, and add a ``prefetch`` that loads those keys for the batch.
    """

    name: ClassVar[str]
    tables: ClassVar[list[type[Base]]]
    batched: ClassVar[bool] = False

    def prefetch(self, events: Sequence[Any], rows: "Rows") -> None:
        """Batched views: load the rows this batch of events will touch (one query per table).
        ``events`` are those the view has a handler for (all of them if ``handle`` is overridden
        by a plain method), in log order."""

    def reset(self, session: Session) -> None:
        """Delete every row of this view (a rebuild then replays from zero)."""
        for table in reversed(self.tables):
            session.execute(sa.delete(table))

    def handle(self, event: Any, session: Session) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def replayer(self) -> "Replayer | None":
        """How a replay into empty tables (``Projector.replay``) builds this view's rows: ``None``,
        through the handlers and ``Rows`` as every batch does, unless the view has a ``Replayer``
        of its own (see there)."""
        return None

    def sql_replayer(self) -> "Replayer | None":
        """How a replay that reads the log in SQL (``projections.sqlreplay``) builds this view's
        rows from the seat events: ``None`` for a view that does not handle them."""
        return None


class Replayer:
    """A view's rows built by a replay from zero without its handlers: the same rows, by a path
    that knows the tables start empty and stay in memory to the end (plain lists, no ``Rows``, no
    dispatch per event), for a view whose handlers cost a replay most. The handlers stay the
    definition: the replay of every view is tested to give the rows live processing gives.

    ``methods`` maps each event class the view's handlers take to the replayer's method for it;
    ``feed(events)`` gets each batch's events in log order and calls them (a subclass of an event
    class as singledispatch would pick); ``tables()`` then gives, per model, its rows as
    sequences in the table's column order, Python values as a handler would set them
    (``write_rows`` converts them as a flush does). ``for_view`` hands a view its replayer only
    while the two handle the same event classes: a handler added to the view alone sends the
    replay back through the handlers, which are always right.

    ``partial = True``: the replayer takes only its own event classes (the view's busiest ones),
    whose rows no other handler of the view reads or changes, and the view's handlers take the
    rest, in the same replay (``takes`` says which); ``for_view`` then asks only that the view
    has handlers for the replayer's classes."""

    partial: ClassVar[bool] = False

    def __init__(self, methods: dict[type, Callable[[Any], None]]) -> None:
        self.methods = methods
        self._by_kind: dict[type, Callable[[Any], None] | None] = dict(methods)

    def feed(self, events: Sequence[Any]) -> None:
        by_kind = self._by_kind
        for event in events:
            kind = type(event)
            try:
                method = by_kind[kind]
            except KeyError:
                method = self._method(kind)
            if method is not None:
                method(event)

    def takes(self, kind: type) -> bool:
        """True if events of ``kind`` are the replayer's (not the view's handlers')."""
        return self._method(kind) is not None

    def _method(self, kind: type) -> Callable[[Any], None] | None:
        """The method for events of ``kind``, as singledispatch picks: the nearest class in its MRO
        (found once per class)."""
        try:
            return self._by_kind[kind]
        except KeyError:
            method = self._by_kind[kind] = next((self.methods[c] for c in kind.__mro__ if c in self.methods), None)
            return method

    def tables(self) -> list[tuple[type[Base], Iterable[Sequence[Any]]]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def for_view(self, view: Projection) -> "Replayer | None":
        registry = inspect.getattr_static(type(view), "handle").dispatcher.registry
        handled = {kind for kind in registry if kind is not object}
        if self.partial:
            return self if set(self.methods) <= handled else None
        return self if handled == set(self.methods) else None

    @staticmethod
    def in_column_order(model: type[Base], order: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[Sequence[Any]]:
        """``rows`` (each in ``order``) in the order of ``model``'s table's columns."""
        columns = _shape(model)[3]
        if tuple(columns) == tuple(order):
            return rows
        picks = [list(order).index(name) for name in columns]
        return ([row[i] for i in picks] for row in rows)


def write_rows(conn: sa.Connection, model: type[Base], rows: Iterable[Sequence[Any]], chunk: int = 50_000) -> None:
    """Insert ``rows`` (sequences in the table's column order) as a batch's flush inserts new rows:
    one executemany per ``chunk`` rows, the values converted by the columns' types."""
    table, remaining = _Table(model, conn, empty=True), iter(rows)
    while batch := list(itertools.islice(remaining, chunk)):
        table._write("insert", batch, by_position=True)


# --- the fast interface: a batch of events applied to rows held in memory -------------------------

Key = tuple


class Runnable:
    """A statement compiled once for a dialect and run straight on the connection's DB-API cursor.

    Through SQLAlchemy's ``Connection.execute`` each statement of a live batch cost ~100 us of
    Python (its cache key, parameter processing, the result's set-up), a dozen of them per batch:
    more than the SQL itself (py-spy of the projection worker under a sign-up load: 32% of it in
    ``prefetch``'s reads, 15% in reading the tracking rows). The statement is still SQLAlchemy's,
    compiled for the engine's dialect, and values go in and come out converted by the columns' own
    types, as ``execute`` would convert them. Driver errors are raised as SQLAlchemy's
    ``DBAPIError`` (the app answers those with a 503), a lost connection invalidated.
    """

    def __init__(self, statement: sa.Executable, dialect: sa.Dialect, result_types: Sequence | None = None) -> None:
        compiled = statement.compile(dialect=dialect)
        self.dialect = dialect
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        binds = {name: bind for bind, name in compiled.bind_names.items()}  # as the SQL names them
        self.names: list[str] = list(compiled.positiontup or ()) if self.positional else list(binds)
        self.defaults = dict(compiled.params)
        self.converters = [(i, f) for i, name in enumerate(self.names)
                           if (f := _bind_processor(binds[name].type, dialect)) is not None]
        self.result_types = list(result_types) if result_types is not None else None
        self._results: list[tuple[int, Callable]] | None = None

    def arguments(self, params: dict[str, Any]) -> tuple | dict:
        defaults = self.defaults
        values = [params[n] if n in params else defaults[n] for n in self.names]
        for i, convert in self.converters:
            values[i] = convert(values[i])
        return tuple(values) if self.positional else dict(zip(self.names, values))

    def _result_processors(self, description) -> list[tuple[int, Callable]]:
        found = []
        for i, (type_, column) in enumerate(zip(self.result_types or (), description)):
            process = type_._cached_result_processor(self.dialect, column[1])
            if process is not None:
                found.append((i, process))
        return found

    def rows(self, conn: sa.Connection, params: dict[str, Any] | None = None) -> list:
        """The result rows (tuples, or lists where a column was converted)."""
        with _driver_errors(conn, self.sql, params) as dbapi:
            cursor = dbapi.cursor()
            try:
                cursor.execute(self.sql, self.arguments(params or {}))
                found = cursor.fetchall()
                if self._results is None and cursor.description is not None:
                    self._results = self._result_processors(cursor.description)
            finally:
                cursor.close()
        processors = self._results
        if not processors or not found:
            return found
        converted = []
        for row in found:
            row = list(row)
            for i, process in processors:
                row[i] = process(row[i])
            converted.append(row)
        return converted

    def scalar(self, conn: sa.Connection, params: dict[str, Any] | None = None) -> Any:
        found = self.rows(conn, params)
        return found[0][0] if found else None

    def run(self, conn: sa.Connection, params: dict[str, Any] | None = None) -> None:
        with _driver_errors(conn, self.sql, params) as dbapi:
            cursor = dbapi.cursor()
            try:
                cursor.execute(self.sql, self.arguments(params or {}))
            finally:
                cursor.close()


_RUNNABLES: dict[tuple[Any, str], Runnable] = {}


def one_of(column: sa.Column, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column IN (values)`` with one parameter per value, bound now: the form ``Runnable``
    compiles (a plain ``in_(list)`` is an "expanding" parameter, filled in per execution)."""
    return column.in_([sa.bindparam(f"{column.name}_in_{i}", value, type_=column.type)
                       for i, value in enumerate(values)])


def runnable(statement: sa.Executable, dialect: sa.Dialect, result_types: Sequence | None = None) -> Runnable:
    """``statement`` compiled for ``dialect``, once (statements come from cached builders, so the
    same object comes back for the same question)."""
    key = (statement, dialect.name)
    found = _RUNNABLES.get(key)
    if found is None:
        found = _RUNNABLES[key] = Runnable(statement, dialect, result_types)
    return found


@contextmanager
def _driver_errors(conn: sa.Connection, sql: str, params: Any):
    """Yield the connection's DB-API connection; raise its driver's errors as SQLAlchemy's."""
    dialect = conn.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    dbapi = conn.connection.dbapi_connection
    try:
        yield dbapi
    except dbapi_error as error:
        lost = dialect.is_disconnect(error, dbapi, None)
        if lost:
            conn.invalidate(error)
        raise sa.exc.DBAPIError.instance(sql, params, error, dbapi_error, connection_invalidated=lost,
                                         dialect=dialect) from error


def executemany(conn: sa.Connection, sql: str, rows: list) -> None:
    """``executemany`` on the DB-API cursor (values already converted), errors as ``Runnable``'s."""
    with _driver_errors(conn, sql, None) as dbapi:
        cursor = dbapi.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()



@functools.cache
def _shape(model: type[Base]) -> tuple:
    """What a table's batches need to know of it, worked out once per model (every live batch
    makes a ``_Table`` per table it touches): primary-key columns, whether the key is composite,
    the key of a row's values, the columns, their scalar defaults, whether rows are numbered."""
    table = model.__table__
    pk = [c.name for c in table.primary_key.columns]
    get_key = operator.itemgetter(*pk)
    composite = len(pk) > 1
    key = get_key if composite else (lambda values: (get_key(values),))
    columns = [c.name for c in table.columns]
    defaults = {c.name: (c.default.arg if c.default is not None and c.default.is_scalar else None)
                for c in table.columns}
    numbered = not composite and isinstance(table.c[pk[0]].type, sa.Integer)
    return pk, composite, key, columns, defaults, numbered


def _bucket(n: int) -> int:
    """The next power of two: statements for ``n`` keys are built for a few sizes only."""
    return 1 << max(n - 1, 0).bit_length()


def _padded(values: list, size: int) -> dict[str, Any]:
    """``values`` bound as ``p0 .. p<size-1>``, the last one repeated up to ``size`` (``IN`` lists
    of a few sizes only; a value twice matches the same rows once)."""
    return {f"p{i}": values[min(i, len(values) - 1)] for i in range(size)}


@functools.cache
def _by_column(model: type[Base], column: str, where: tuple[tuple[str, Any], ...], size: int) -> sa.Select:
    """The rows whose ``column`` is one of ``size`` values (bound as ``p<n>``) and that match
    ``where`` (column -> value; ``None`` is SQL's IS NULL). Built once per size."""
    table = model.__table__
    wanted = table.c[column].in_([sa.bindparam(f"p{i}", type_=table.c[column].type) for i in range(size)])
    return sa.select(table).where(wanted, *(table.c[c].is_(None) if v is None else table.c[c] == v for c, v in where))


def _by_first(model: type[Base], size: int) -> sa.Select:
    """The rows whose first key column is one of ``size`` values (bound as ``p<n>``)."""
    return _by_column(model, _shape(model)[0][0], (), size)


@functools.cache
def _by_key(model: type[Base]) -> sa.Select:
    """The row with this whole key (bound by column name)."""
    table = model.__table__
    return sa.select(table).where(*(table.c[c] == sa.bindparam(c, type_=table.c[c].type) for c in _shape(model)[0]))


@functools.cache
def _max_id(model: type[Base]) -> sa.Select:
    return sa.select(sa.func.max(model.__table__.c[_shape(model)[0][0]]))


@functools.cache
def _any_row(model: type[Base]) -> sa.Select:
    return sa.select(sa.literal(1)).select_from(model.__table__).limit(1)


@functools.cache
def _by_keys(model: type[Base], size: int) -> sa.TextClause:
    """The rows with any of ``size`` whole keys (bound as ``k<n>_<column index>``), joined from a
    VALUES list. Not ``(a, b) IN (VALUES ...)``, which SQLite answers by scanning the whole table
    (2-4 ms for 25k sign-ups, growing with the history); the join searches the primary key per
    key (0.1-0.3 ms for 60 keys). Text with typed columns and parameters, built once per size:
    SQLAlchemy compiling a ``values()`` construct per batch cost more than the query."""
    table, pk = model.__table__, _shape(model)[0]
    names = ", ".join(f"k{j}" for j in range(len(pk)))
    values = ", ".join("(" + ", ".join(f":k{n}_{j}" for j in range(len(pk))) + ")" for n in range(size))
    columns = ", ".join(f'"{table.name}"."{c.name}"' for c in table.columns)
    on = " AND ".join(f'"{table.name}"."{c}" = wanted.k{j}' for j, c in enumerate(pk))
    statement = sa.text(f'WITH wanted({names}) AS (VALUES {values}) '
                        f'SELECT {columns} FROM wanted JOIN "{table.name}" ON {on}')
    binds = [sa.bindparam(f"k{n}_{j}", type_=table.c[c].type) for n in range(size) for j, c in enumerate(pk)]
    return statement.bindparams(*binds).columns(*table.columns)


class _Table:
    """One table's rows for one batch: loaded once, changed in memory, written back in bulk."""

    def __init__(self, model: type[Base], conn: sa.Connection, empty: bool = False) -> None:
        self.model, self.conn = model, conn
        self.empty = empty  # the table held no row when the batch began: nothing to read
        self.table: sa.Table = model.__table__
        self.pk, self.composite, self.key, self.columns, self.defaults, self.numbered = _shape(model)
        self.rows: dict[Key, SimpleNamespace] = {}  # what the table holds now (in this batch)
        self.groups: dict[Any, dict[Key, SimpleNamespace]] = {}  # rows by the first key column
        self.stored: dict[Key, dict[str, Any]] = {}  # as read from the database
        self.known_keys: set[Key] = set()  # looked up (found or not)
        self.known_groups: set[Any] = set()  # every row with this first key value is held
        self.indexes: dict[tuple, _Index] = {}  # (column, filter) -> rows by that column's value
        self.last_id: int | None = None  # highest surrogate id (numbered tables), once read

    def _hold(self, key: Key, row: SimpleNamespace) -> None:
        self.rows[key] = row
        if self.composite:
            self.groups.setdefault(key[0], {})[key] = row
        for index in self.indexes.values():
            index.note(row)

    def _read(self, statement: sa.Executable, params: dict | None = None) -> None:
        """Hold the rows ``statement`` (selecting every column of the table) finds."""
        if self.empty:
            return
        found_rows = runnable(statement, self.conn.dialect, [c.type for c in self.table.columns]).rows(self.conn, params)
        names = self.columns  # rows as plain tuples: a RowMapping per row cost more than the SQL
        stored, known, key_of = self.stored, self.known_keys, self.key
        for found in found_rows:
            values = dict(zip(names, found))
            key = key_of(values)
            if key not in stored and key not in known:
                stored[key] = values
                self._hold(key, SimpleNamespace(**values))
                known.add(key)

    def load(self, firsts: Iterable[Any]) -> None:
        """Read every row whose first key column is one of ``firsts`` (one query per 512 values)."""
        wanted = sorted({f for f in firsts if f not in self.known_groups}, key=str)
        for i in range(0, len(wanted), 512):
            chunk = wanted[i:i + 512]
            size = _bucket(len(chunk))
            self._read(_by_first(self.model, size), _padded(chunk, size))
            self.known_groups.update(chunk)

    # Keys wanted per group from which a group is read whole instead of key by key.
    GROUP_FROM_KEYS = 8

    def load_keys(self, keys: Iterable[Key]) -> None:
        """Read the rows with these whole keys (one query per 256); many keys in few groups (a
        rebuild's batch touches most rows of its groups): those groups whole instead, IN over one
        column being cheaper than over a tuple. A live batch's few keys spread over many groups
        are read by key: a talk's every sign-up, read for one new one, cost the follower a third
        of a worker's CPU under a sign-up load."""
        wanted = list({k for k in keys if k not in self.known_keys and k[0] not in self.known_groups})
        firsts = {k[0] for k in wanted}
        if len(wanted) > 50 and len(wanted) >= self.GROUP_FROM_KEYS * len(firsts):
            self.load(firsts)
            return
        for i in range(0, len(wanted), 256):
            chunk = wanted[i:i + 256]
            size = _bucket(len(chunk))
            padded = chunk + [chunk[-1]] * (size - len(chunk))  # a key twice is read once
            self._read(_by_keys(self.model, size), {f"k{n}_{j}": value for n, key in enumerate(padded)
                                                    for j, value in enumerate(key)})
            self.known_keys.update(chunk)

    def get(self, key: Key) -> SimpleNamespace | None:
        row = self.rows.get(key)
        if row is not None or self.empty or key in self.known_keys or key[0] in self.known_groups:
            return row
        self._read(_by_key(self.model), dict(zip(self.pk, key)))
        self.known_keys.add(key)
        return self.rows.get(key)

    def group(self, first: Any) -> list[SimpleNamespace]:
        if first not in self.known_groups:
            self.load([first])
        if not self.composite:
            row = self.rows.get((first,))
            return [] if row is None else [row]
        return list(self.groups.get(first, {}).values())

    def put(self, values: dict[str, Any]) -> SimpleNamespace:
        full = {**self.defaults, **values}
        key = self.key(full)
        self.get(key)  # so a row already stored is updated, not inserted twice
        row = self.rows.get(key)
        if row is None:
            row = SimpleNamespace(**full)
            self._hold(key, row)
        else:
            row.__dict__.update(values)
        return row

    def add(self, values: dict[str, Any]) -> SimpleNamespace:
        full = {**self.defaults, **values}
        if self.numbered and full[self.pk[0]] is None:
            if self.last_id is None:
                self.last_id = 0 if self.empty else runnable(_max_id(self.model), self.conn.dialect).scalar(self.conn) or 0
            self.last_id += 1
            full[self.pk[0]] = self.last_id
        key = self.key(full)
        row = SimpleNamespace(**full)
        self._hold(key, row)
        if not self.empty:  # (an empty table's lookups never read)
            self.known_keys.add(key)
        return row

    def delete(self, key: Key) -> None:
        row = self.get(key)
        if row is not None:
            del self.rows[key]
            if self.composite:
                del self.groups[key[0]][key]
            for index in self.indexes.values():
                index.forget(row)

    def index(self, column: str, where: dict[str, Any]) -> _Index:
        spec = (column, tuple(sorted(where.items())))
        index = self.indexes.get(spec)
        if index is None:
            index = self.indexes[spec] = _Index(self, column, spec[1])
        return index

    def flush(self) -> None:
        pk = self.pk
        gone = [{"_k_" + c: v for c, v in zip(pk, key)} for key in self.stored if key not in self.rows]
        new, changed = [], []
        if not self.stored:  # nothing was read (a rebuild's first batch, append-only tables)
            # a composite key's rows group by group: its index takes each group's rows in
            # neighbouring pages (65k sign-ups with a primary key of two ids: 5.35 us a row in the
            # order they came, 3.47 talk by talk, 3.19 sorted, which costs 0.8 to sort)
            new = ([row.__dict__ for group in self.groups.values() for row in group.values()] if self.composite
                   else [row.__dict__ for row in self.rows.values()])
        for key, row in self.rows.items() if self.stored else ():
            values = row.__dict__
            before = self.stored.get(key)
            if before is None:
                new.append(values)
            elif values != before:
                changed.append({**values, **{"_k_" + c: v for c, v in zip(pk, key)}})
        if gone:
            self._write("delete", gone)
        if changed:
            self._write("update", changed)
        if new:
            self._write("insert", new)
        self.stored = {}  # the batch is over: this table is not to be used again
        self.rows, self.groups, self.known_keys, self.known_groups = {}, {}, set(), set()
        self.indexes, self.last_id = {}, None

    _plans: ClassVar[dict] = {}

    def _statement(self, kind: str) -> sa.Executable:
        t, pk = self.table, self.pk
        if kind == "insert":
            return sa.insert(t)
        match = sa.and_(*(t.c[c] == sa.bindparam("_k_" + c, type_=t.c[c].type) for c in pk))
        if kind == "delete":
            return sa.delete(t).where(match)
        return sa.update(t).where(match).values({c: sa.bindparam(c, type_=t.c[c].type) for c in self.columns})

    def _write(self, kind: str, params: list, by_position: bool = False) -> None:
        """One executemany straight to the driver, the values converted as SQLAlchemy would: its
        per-row parameter handling cost more than the rest of a rebuild's writes. ``params``: each
        row's values by column name, or (``by_position``, inserts only) in the table's column order."""
        dialect = self.conn.dialect
        plan = self._plans.get((self.table, dialect.name, kind, by_position))
        if plan is None:
            compiled = self._statement(kind).compile(dialect=dialect)
            names = list(compiled.positiontup) if compiled.positional else list(compiled.params)
            columns = [self.table.c[name.removeprefix("_k_")] for name in names]
            converters = [(i, f) for i, column in enumerate(columns)
                          if (f := _bind_processor(column.type, dialect)) is not None]
            keys = [self.columns.index(name) for name in names] if by_position else names
            plan = self._plans[(self.table, dialect.name, kind, by_position)] = (
                str(compiled), compiled.positional, names, _row_maker(keys, converters))
        sql, positional, names, make = plan
        rows = list(map(make, params))
        executemany(self.conn, sql, rows if positional else [dict(zip(names, row)) for row in rows])


def _row_maker(keys: list[str] | list[int], converters: list[tuple[int, Callable[[Any], Any]]]) -> Callable[[Any], tuple]:
    """A function from one row's values (a dict by parameter name, or a sequence by column index)
    to its parameters in statement order, each converted as SQLAlchemy converts it: written out
    once per statement, with the keys in it (a rebuild writes ~2 rows an event; transposing the
    rows to convert column by column and back cost ~10 us a row). The keys are the table's own
    column names, from our models, or column indexes."""
    converting = dict(converters)
    scope = {f"convert{i}": f for i, f in converting.items()}
    values = ", ".join(f"convert{i}(v[{key!r}])" if i in converting else f"v[{key!r}]"
                       for i, key in enumerate(keys))
    exec(f"def make(v):\n    return ({values},)", scope)  # noqa: S102 - our own column names, quoted
    return scope["make"]


_DATETIME_TEXT: dict[bool, dict[datetime, tuple[Any, int, str]]] = {False: {}, True: {}}
_DATETIME_TEXTS = 65_536  # bounded: a long-lived process sees timestamps come and go


@contextmanager
def remembering_datetimes(at_most: int):
    """Let the datetime memo below hold up to ``at_most`` values per kind for a while (a replay:
    every event's timestamp is new, and the views write each one into several tables, table after
    table at the end; with the usual bound the memo was emptied long before the next table came to
    the same timestamps). Replaying attendance, notifications and schedule from 124k events:
    21.64G -> 21.33G instructions with this and the tuple-less key below (callgrind, the whole
    process; wall-clock runs on this machine differ by more). ~190 bytes a value (tracemalloc,
    100k aware timestamps; the datetimes themselves are the rows'); emptied back to the usual
    bound afterwards."""
    global _DATETIME_TEXTS
    before = _DATETIME_TEXTS
    _DATETIME_TEXTS = max(before, at_most)
    try:
        yield
    finally:
        _DATETIME_TEXTS = before
        for memo in _DATETIME_TEXT.values():
            if len(memo) > before:
                memo.clear()


def _sqlite_datetime(fallback: Callable[[Any], Any], to_utc: bool = False) -> Callable[[Any], Any]:
    """SQLite's DATETIME bind processor ('YYYY-MM-DD HH:MM:SS.ffffff', the wall time, any offset
    dropped: the first 26 characters of ``isoformat``) in one C call for a datetime rather than a
    format over a dict; ``to_utc``: an aware value is moved to UTC first (``UTCDateTime``, whose
    naive values are UTC already); ``fallback`` for anything that is not a datetime."""
    # One event's timestamp goes into several rows (a version closed and the next opened, a
    # sign-up, a notification): remembered, 0.11 against 1.3 us (timeit), in one memo per kind
    # (moved to UTC or not) for every column of every table (a rebuild writes a column of
    # timestamps, then the same ones in the next table's). Keyed by the value alone (no tuple to
    # build per lookup), a hit taken only if the zone and fold match as well: equal instants in
    # two zones have different wall times, and in one zone two wall times that differ only in fold
    # compare equal but are different instants; such a value replaces the other in the memo.
    memo = _DATETIME_TEXT[to_utc]

    def process(value: Any) -> Any:
        if type(value) is datetime:
            hit = memo.get(value)
            zone = value.tzinfo
            if hit is not None and (hit[0] is zone or hit[0] == zone) and hit[1] == value.fold:
                return hit[2]
            if len(memo) >= _DATETIME_TEXTS:
                memo.clear()
            moved = value.astimezone(timezone.utc) if to_utc and zone is not None else value
            text = moved.isoformat(" ", "microseconds")[:26]
            memo[value] = (zone, value.fold, text)
            return text
        return None if value is None else fallback(value)
    return process


def _bind_processor(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy does to a value of ``type_`` on its way to the driver (None: nothing)."""
    impl = type_.dialect_impl(dialect)
    decorator = impl if isinstance(impl, sa.types.TypeDecorator) else None
    if decorator is not None:
        impl = decorator.impl_instance.dialect_impl(dialect)
    if type(impl) is not sqlite.DATETIME or impl._storage_format != sqlite.DATETIME._storage_format:
        return type_._cached_bind_processor(dialect)
    process = _sqlite_datetime(impl.bind_processor(dialect))
    if decorator is None:
        return process
    before = decorator.process_bind_param
    decorated = lambda value: process(before(value, dialect))  # noqa: E731
    return _sqlite_datetime(decorated, to_utc=True) if type(decorator) is UTCDateTime else decorated


class _Index:
    """A table's held rows by the value of one (non-key) column, only those matching ``where``
    (column -> value; ``None`` is SQL's IS NULL): e.g. a talk's open versions by ``talk_id``.

    Rows come from the database (``load``: one query for many values) and from the batch itself
    (every row held, read or added, that matches when it is held). ``find`` checks the filter and
    the column again, so a row that stops matching (a fact closed) leaves the index for good; a row
    changed so that it comes to match is not seen, hence: index only a column a row keeps, with a
    filter a row may leave but never enter (``valid_to=None``).
    """

    def __init__(self, table: _Table, column: str, where: tuple[tuple[str, Any], ...]) -> None:
        self.table, self.column, self.where = table, column, where
        self.rows: dict[Any, list[SimpleNamespace]] = {}
        self.loaded: set[Any] = set()
        for row in table.rows.values():
            self.note(row)

    def matches(self, row: SimpleNamespace) -> bool:
        values = row.__dict__
        for column, value in self.where:
            if values[column] != value:
                return False
        return True

    def note(self, row: SimpleNamespace) -> None:
        if self.matches(row):
            self.rows.setdefault(getattr(row, self.column), []).append(row)

    def forget(self, row: SimpleNamespace) -> None:
        held = self.rows.get(getattr(row, self.column))
        if held is not None and row in held:
            held.remove(row)

    def load(self, values: Iterable[Any]) -> None:
        """Read the matching rows of every value not yet read (one query per 512 values)."""
        wanted = sorted({v for v in values if v not in self.loaded}, key=str)
        if not wanted:
            return
        model = self.table.model
        for i in range(0, len(wanted), 512):
            chunk = wanted[i:i + 512]
            size = _bucket(len(chunk))
            self.table._read(_by_column(model, self.column, self.where, size), _padded(chunk, size))
            self.loaded.update(chunk)
        key = self.table.key
        for value in wanted:  # rows read after rows the batch added: back in key order
            held = self.rows.get(value)
            if held is not None and len(held) > 1:
                held.sort(key=lambda row: key(row.__dict__))

    def find(self, value: Any) -> list[SimpleNamespace]:
        if value not in self.loaded:
            self.load([value])
        held = self.rows.get(value)
        if not held:
            return []
        found = [row for row in held if self.matches(row) and getattr(row, self.column) == value]
        if len(found) != len(held):
            held[:] = found
        return found


class Rows:
    """The rows a batch of events works on, for views with ``batched = True``.

    Keys are tuples in primary-key column order (a single-column key may be passed bare). Rows are
    ``SimpleNamespace`` objects with one attribute per column: change them in place. Nothing is
    written until the runner calls ``flush()``, in the transaction that also moves the view's
    tracking position, so a failure anywhere in the batch writes nothing.

    - ``load(Model, firsts)``: read in one query every row whose FIRST key column is in ``firsts``
      (call it from ``prefetch``; a row or group not prefetched is read on first use, one query).
    - ``load_keys(Model, keys)``: the same for whole keys (tuples), when a view needs only some rows
      of a group (one sign-up of a talk rather than all of them).
    - ``get(Model, key)``: the row or ``None``.
    - ``group(Model, first)``: every row whose first key column equals ``first``.
    - ``put(Model, **values)``: insert, or update the row with that key (like ``session.merge``);
      missing columns take the column's default.
    - ``add(Model, **values)``: insert a row whose key is new (no read; a key already stored
      fails at the flush, like ``session.add``) - for append-only tables.
    - ``delete(Model, key)``: delete the row if it exists.
    - ``add`` on a table keyed by one integer column (a surrogate ``id``) without that key numbers
      the row: the table's highest id (read once per batch) plus one, as the database would, so
      versioned history rows go out in one executemany, never read back.
    - ``load_by(Model, column, values, **where)`` / ``find(Model, column, value, **where)``: rows by
      a column that is not the key, e.g. ``find(TalkVersionRow, "talk_id", t, valid_to=None)``: the
      talk's open version. Only rows matching ``where`` are read; key order. See ``_Index`` for
      what may be indexed (a column a row keeps; a filter a row may leave but not enter).
    - ``empty``: tables known to hold no row when the batch begins (the runner checks a view's own
      tables when its position is 0, e.g. a rebuild's first batch): lookups in them read nothing.
    - ``connection``: the batch's connection, for anything else (writes through it bypass the
      cache, so do not mix them with rows of the same table in one batch).
    """

    def __init__(self, connection: sa.Connection, empty: Iterable[type[Base]] = ()) -> None:
        self.connection = connection
        self._tables: dict[type[Base], _Table] = {}
        self._empty = set(empty)

    def table(self, model: type[Base]) -> _Table:
        table = self._tables.get(model)
        if table is None:
            table = self._tables[model] = _Table(model, self.connection, model in self._empty)
        return table

    @staticmethod
    def empty_tables(connection: sa.Connection, models: Iterable[type[Base]]) -> list[type[Base]]:
        """Those of ``models`` whose table holds no row (one cheap query each): a batch's rows for
        them need no reading (a view's first batch, as in a rebuild, reads nothing)."""
        return [model for model in models if not runnable(_any_row(model), connection.dialect).rows(connection)]

    @staticmethod
    def _key(key: Any) -> Key:
        return key if isinstance(key, tuple) else (key,)

    def load(self, model: type[Base], firsts: Iterable[Any]) -> None:
        self.table(model).load(firsts)

    def load_keys(self, model: type[Base], keys: Iterable[tuple]) -> None:
        self.table(model).load_keys(keys)

    def get(self, model: type[Base], key: Any) -> SimpleNamespace | None:
        return self.table(model).get(self._key(key))

    def group(self, model: type[Base], first: Any) -> list[SimpleNamespace]:
        return self.table(model).group(first)

    def put(self, model: type[Base], **values: Any) -> SimpleNamespace:
        return self.table(model).put(values)

    def add(self, model: type[Base], **values: Any) -> SimpleNamespace:
        return self.table(model).add(values)

    def delete(self, model: type[Base], key: Any) -> None:
        self.table(model).delete(self._key(key))

    def load_by(self, model: type[Base], column: str, values: Iterable[Any], **where: Any) -> None:
        self.table(model).index(column, where).load(values)

    def find(self, model: type[Base], column: str, value: Any, **where: Any) -> list[SimpleNamespace]:
        return self.table(model).index(column, where).find(value)

    def held(self) -> int:
        """How many rows are held in memory (a replay writes them out beyond a bound)."""
        return sum(len(table.rows) for table in self._tables.values())

    def flush(self) -> None:
        for table in self._tables.values():
            table.flush()
