"""What every read model shares: the SQLAlchemy metadata, the tracking table, the handler base."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


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
