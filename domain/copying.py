"""A fast, still deep, copy for aggregates.

The repository hands each command a deep copy of the cached aggregate, so a command that fails
half-way cannot corrupt the cache. ``copy.deepcopy`` walks every value through its generic
protocol, and a talk holds lists of UUIDs (each rebuilt through ``__reduce_ex__``): it cost
about 1 ms per sign-up on a full talk. Values that cannot change in place (str, int, UUID,
date, ...) can be shared by the copy; containers are copied, and anything else still goes
through ``deepcopy``, so the result is as deep as before.
"""

from __future__ import annotations

from copy import deepcopy
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

ATOMS = (str, int, float, bool, bytes, type(None), UUID, date, datetime, time, timedelta, Decimal)


def copy_value(value: Any, memo: dict) -> Any:
    if isinstance(value, ATOMS):
        return value
    kind = type(value)
    if kind is list:
        return [copy_value(v, memo) for v in value]
    if kind is dict:
        return {copy_value(k, memo): copy_value(v, memo) for k, v in value.items()}
    if kind is set:
        return {copy_value(v, memo) for v in value}
    if kind is tuple:
        return tuple(copy_value(v, memo) for v in value)
    return deepcopy(value, memo)


class FastCopy:
    """Mixin for aggregates: ``deepcopy(aggregate)`` shares immutable values, copies the rest."""

    def __deepcopy__(self, memo: dict) -> Any:
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update({name: copy_value(value, memo) for name, value in self.__dict__.items()})
        return clone
