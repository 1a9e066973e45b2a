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


# The exact types of ATOMS: a container holding only these (a talk's list of peer ids) is copied
# by one C-level shallow copy, after one C-level pass over its items' types, instead of a Python
# call per item (a waitlist of a thousand ids: 250 us -> 25 us a copy, every sign-up). A subclass
# (a str enum, say) is not in it and takes the item-by-item path, which still shares it.
_ATOM_TYPES = frozenset(ATOMS)


def copy_value(value: Any, memo: dict) -> Any:
    if isinstance(value, ATOMS):
        return value
    kind = type(value)
    if kind is list:
        if _ATOM_TYPES.issuperset(map(type, value)):
            return value.copy()
        return [copy_value(v, memo) for v in value]
    if kind is dict:
        if _ATOM_TYPES.issuperset(map(type, value)) and _ATOM_TYPES.issuperset(map(type, value.values())):
            return value.copy()
        return {copy_value(k, memo): copy_value(v, memo) for k, v in value.items()}
    if kind is set:
        if _ATOM_TYPES.issuperset(map(type, value)):
            return value.copy()
        return {copy_value(v, memo) for v in value}
    if kind is tuple:
        if _ATOM_TYPES.issuperset(map(type, value)):
            return value  # a tuple of atoms cannot change: share it, as deepcopy does
        return tuple(copy_value(v, memo) for v in value)
    return deepcopy(value, memo)


class FastCopy:
    """Mixin for aggregates: ``deepcopy(aggregate)`` shares immutable values, copies the rest."""

    def __deepcopy__(self, memo: dict) -> Any:
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update({name: copy_value(value, memo) for name, value in self.__dict__.items()})
        return clone
