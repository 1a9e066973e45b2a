"""What every read model shares: the SQLAlchemy metadata, the tracking table, the handler base."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


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
    """

    name: ClassVar[str]
    tables: ClassVar[list[type[Base]]]

    def reset(self, session: Session) -> None:
        """Delete every row of this view (a rebuild then replays from zero)."""
        for table in reversed(self.tables):
            session.execute(sa.delete(table))

    def handle(self, event: Any, session: Session) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
