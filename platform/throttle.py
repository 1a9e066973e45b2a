"""Failed sign-ins, counted in the database so that every web process sees the same count.

At most ``limit`` failures per key (an email, a client address) in ``window`` seconds; then both
the sign-in form and ``POST /api/v1/tokens`` answer 429 with ``Retry-After`` until the oldest
failure leaves the window. A success clears the email's count, not the address's (else a guesser
could sign in to an account of their own between guesses to start again). It slows guessing
down; it is not an account lock-out (the right password works again once the window has passed).

Counted per process (as before) a guesser got ``limit`` tries per gunicorn worker, and the API's
token endpoint was not counted at all. This is operational state, not history: a table beside
the read models (a rebuild leaves it alone; deleting the views file forgets it), written with
plain statements, never events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from commonroom.domain.errors import DomainError
from commonroom.projections.base import Base

T = TypeVar("T")


class TooManySignIns(DomainError):
    """429: the email or the address is over its limit; ``retry_after`` seconds until it is not."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after // 60 + 1} minutes")
        self.retry_after = retry_after


class LoginFailureRow(Base):
    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(320), index=True)
    at: Mapped[float]  # seconds since the epoch (wall clock: shared by every process)


class LoginThrottle:
    def __init__(self, write_engine: sa.Engine, read_engine: sa.Engine | None = None, limit: int = 5,
                 window: float = 900.0, clock: Callable[[], float] = time.time) -> None:
        self.write_engine, self.read_engine = write_engine, read_engine or write_engine
        self.limit, self.window, self.clock = limit, window, clock

    def sign_in(self, email: str, address: str | None, check: Callable[[], T | None]) -> T | None:
        """``check()`` (the password check: what it finds, or None), counted: refused with
        ``TooManySignIns`` while the email or the address is over its limit; a None counts
        against both, anything else clears the email's count."""
        keys = (f"email:{email}", f"addr:{address}")
        wait = self.retry_after(*keys)
        if wait:
            raise TooManySignIns(wait)
        found = check()
        if found is None:
            self.failed(*keys)
        else:
            self.succeeded(keys[0])  # not the address's (see above)
        return found

    def retry_after(self, *keys: str) -> int:
        """Seconds until every key is under its limit again (0: go ahead)."""
        now = self.clock()
        t = LoginFailureRow.__table__
        with self.read_engine.connect() as c:
            rows = c.execute(sa.select(t.c.key, sa.func.count(), sa.func.min(t.c.at))
                             .where(t.c.key.in_(keys), t.c.at > now - self.window).group_by(t.c.key)).all()
        waits = [int(self.window - (now - oldest)) + 1 for _key, count, oldest in rows if count >= self.limit]
        return max(waits, default=0)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        t = LoginFailureRow.__table__
        with self.write_engine.begin() as c:
            c.execute(sa.insert(t), [{"key": key, "at": now} for key in keys])
            c.execute(sa.delete(t).where(t.c.at <= now - self.window))  # what no longer counts

    def succeeded(self, *keys: str) -> None:
        t = LoginFailureRow.__table__
        with self.write_engine.begin() as c:
            c.execute(sa.delete(t).where(t.c.key.in_(keys)))
