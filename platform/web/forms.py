"""Small helpers for reading form and JSON input into typed values, naming the bad field."""

from __future__ import annotations

from datetime import date, time
from uuid import UUID

from commonroom.domain.errors import InvalidValue


def parse_date(field: str, value: object) -> date:
    try:
        return date.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidValue(field, f"{field} must be a date like 2026-12-01") from None


def parse_time(field: str, value: object) -> time:
    try:
        return time.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidValue(field, f"{field} must be a time like 12:00") from None


def parse_int(field: str, value: object) -> int:
    if isinstance(value, bool):
        raise InvalidValue(field, f"{field} must be a whole number")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidValue(field, f"{field} must be a whole number") from None


def parse_uuid(field: str, value: object) -> UUID:
    try:
        return UUID(str(value))
    except (TypeError, ValueError):
        raise InvalidValue(field, f"{field} is not a valid id") from None
