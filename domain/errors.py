"""Domain errors shared by every aggregate.

Each error carries a readable message; ``InvalidValue`` also names the offending field so the
web layer can show it next to the right input (and the API can answer 422 naming it).
"""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule. The message is meant for people."""

    status = 409
    field: str | None = None
    retry_after: int | None = None  # seconds: answered as Retry-After (a 503 or a 429)


class InvalidValue(DomainError):
    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotAllowed(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


def require_text(field: str, value: object, *, min_len: int = 1, max_len: int = 200) -> str:
    """Strip and length-check a text value; raise InvalidValue naming the field."""
    if not isinstance(value, str):
        raise InvalidValue(field, f"{field} must be text")
    text = " ".join(value.split()) if max_len <= 200 else value.strip()
    if len(text) < min_len:
        if min_len == 1:
            raise InvalidValue(field, f"{field} is required")
        raise InvalidValue(field, f"{field} must be at least {min_len} characters")
    if len(text) > max_len:
        raise InvalidValue(field, f"{field} must be at most {max_len} characters")
    return text
