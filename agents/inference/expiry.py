"""Table entries that expire: the request-id and session tables would otherwise grow for as long as Sluice runs.

Faust expires only windowed tables, and it does so from a timer, outside any event: under exactly-once such a
deletion belongs to no input's transaction. Here a deletion is made while an input is processed, so its
changelog tombstone joins that input's transaction like any other table write, and it lands in the changelog
partition the entry was written to (Faust writes a table change to the current event's partition; a tombstone
in another partition would not remove the entry from the compacted changelog).

Each value is stored in an envelope with the time and the partition it was written in. Every write in a
partition then forgets up to `per_write` entries of that partition whose last write is older than the
retention, oldest first: the work per request stays bounded and an idle partition keeps its entries until
its next write. Values written before envelopes existed are read as they are and never expire.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

PRUNE_PER_WRITE = 8
_ENVELOPE_KEYS = frozenset({"value", "written_at", "partition"})


def _is_envelope(stored: object) -> TypeGuard[dict[str, Any]]:
    return isinstance(stored, dict) and set(stored) == _ENVELOPE_KEYS


@dataclass
class ExpiringTable:
    """A Faust table (any mutable mapping in unit tests) whose entries go `retention_s` after their last write."""

    table: MutableMapping[str, Any]
    retention_s: float
    clock: Callable[[], float] = time.time
    per_write: int = PRUNE_PER_WRITE
    # partition → (written_at, key) in write order; learnt from the table on the first write after a rebalance.
    _written: dict[int, deque[tuple[float, str]]] = field(default_factory=dict, init=False, repr=False)

    def get(self, key: str) -> Any:
        stored = self.table.get(key)
        return stored["value"] if _is_envelope(stored) else stored

    def set(self, key: str, value: Any, partition: int) -> None:
        """Write within the processing of an input of `partition` (its changelog partition)."""
        written = self._written_in(partition)
        now = self.clock()
        self.table[key] = {"value": value, "written_at": now, "partition": partition}
        written.append((now, key))
        self._forget_expired(written, partition, now - self.retention_s)

    def rebalanced(self) -> None:
        """Partitions may have moved, with entries written elsewhere meanwhile: learn them again from the table."""
        self._written.clear()

    def _written_in(self, partition: int) -> deque[tuple[float, str]]:
        written = self._written.get(partition)
        if written is None:
            # The table holds what recovery restored from the changelog: one scan per partition and rebalance.
            entries = [(v["written_at"], k) for k, v in list(self.table.items()) if self._holds(v, partition)]
            written = self._written[partition] = deque(sorted(entries))
        return written

    def _forget_expired(self, written: deque[tuple[float, str]], partition: int, cutoff: float) -> None:
        for _ in range(self.per_write):
            if not written or written[0][0] > cutoff:
                return
            at, key = written.popleft()
            stored = self.table.get(key)
            # Rewritten since (a session's next turn) means a later entry in the queue stands for it.
            if self._holds(stored, partition) and stored["written_at"] == at:
                del self.table[key]

    @staticmethod
    def _holds(stored: Any, partition: int) -> TypeGuard[dict[str, Any]]:
        return _is_envelope(stored) and stored["partition"] == partition
