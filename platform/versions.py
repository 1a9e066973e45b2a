"""The version board: each aggregate's latest version, shared by the processes writing one SQLite file.

A command loads its aggregate from the process's cache, and the cache may be behind: another
process (the other gunicorn worker) may have saved it since. eventsourcing's answer is to ask the
store for newer events on every load (the "fast-forward"): one query per command, which also reads
back the event this process itself saved last time. Here every process that saves into the file
notes the versions it wrote on a small shared board (a memory-mapped file beside the database),
while it still holds the write lock; a command whose cached aggregate stands at the version the
board shows needs no query.

The board is only a hint, never what correctness rests on: a save still fails on a version
conflict if the aggregate moved on (the command is then retried from the store), and a command
that decided on a copy the board vouched for without saving it (a refusal, or nothing to change)
is checked against the store before its answer counts (``Service._on_talk``). So a slot shared by
two aggregates, a torn read or a writer that died between its commit and its note cost at most a
query or a retry. PostgreSQL has no board (its processes may be on other machines): commands there
fast-forward as before.
"""

from __future__ import annotations

import mmap
import os
import struct
from uuid import UUID

SLOTS = 1 << 16  # 1 MiB: a slot per aggregate id (by its low bits), so few aggregates share one
_SLOT = struct.Struct("<QQ")  # (tag: the id's high 64 bits, never 0; version)


def _slot_and_tag(aggregate_id: UUID) -> tuple[int, int]:
    value = aggregate_id.int
    return (value & (SLOTS - 1)) * _SLOT.size, (value >> 64) | 1


class VersionBoard:
    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < SLOTS * _SLOT.size:
                os.ftruncate(fd, SLOTS * _SLOT.size)
            self._map = mmap.mmap(fd, SLOTS * _SLOT.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)  # the mapping keeps the file

    def note(self, aggregate_id: UUID, version: int) -> None:
        """``aggregate_id`` now stands at ``version`` (call after the commit, under the write lock)."""
        offset, tag = _slot_and_tag(aggregate_id)
        _SLOT.pack_into(self._map, offset, tag, version)

    def latest(self, aggregate_id: UUID) -> int | None:
        """The version last noted for ``aggregate_id`` (None: not known here)."""
        offset, tag = _slot_and_tag(aggregate_id)
        found, version = _SLOT.unpack_from(self._map, offset)
        return version if found == tag else None

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
