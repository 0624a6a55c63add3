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

A table can also be capped per owner (the sessions table: per tenant). Expiry bounds the table in time only, and
a tenant can open sessions as fast as it can send requests. With `owner_of` and `max_per_owner`, a write of a new
key whose owner already has `max_per_owner` entries in that partition first deletes that owner's least recently
written entry there (the same way as an expired one, so its tombstone joins this input's transaction in the
entry's own changelog partition). Keeping the newest is what a conversation needs: the session being written to
is the one a user is in now, and the one dropped has been idle longest. One owner's writes never drop another
owner's entries. The cap holds per partition, where the memory of a worker is spent; keys `owner_of` maps to
None are not counted.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
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
    owner_of: Callable[[str], str | None] = lambda _key: None
    max_per_owner: int | None = None
    # partition → (written_at, key) in write order; learnt from the table on the first write after a rebalance.
    _written: dict[int, deque[tuple[float, str]]] = field(default_factory=dict, init=False, repr=False)
    # partition → owner → key → written_at, least recently written first (only with max_per_owner); learnt alike.
    _owned: dict[int, dict[str, OrderedDict[str, float]]] = field(default_factory=dict, init=False, repr=False)

    def get(self, key: str) -> Any:
        stored = self.table.get(key)
        return stored["value"] if _is_envelope(stored) else stored

    def set(self, key: str, value: Any, partition: int) -> list[str]:
        """Write within the processing of an input of `partition` (its changelog partition).

        Returns the keys deleted to keep the key's owner within `max_per_owner` (usually none).
        """
        written = self._written_in(partition)
        now = self.clock()
        owner = self.owner_of(key) if self.max_per_owner is not None else None
        dropped = self._make_room(partition, owner, key) if owner is not None else []
        self.table[key] = {"value": value, "written_at": now, "partition": partition}
        written.append((now, key))
        if owner is not None:
            keys = self._owned[partition].setdefault(owner, OrderedDict())
            keys[key] = now
            keys.move_to_end(key)
        self._forget_expired(written, partition, now - self.retention_s)
        return dropped

    def rebalanced(self) -> None:
        """Partitions may have moved, with entries written elsewhere meanwhile: learn them again from the table."""
        self._written.clear()
        self._owned.clear()

    def _written_in(self, partition: int) -> deque[tuple[float, str]]:
        written = self._written.get(partition)
        if written is None:
            # The table holds what recovery restored from the changelog: one scan per partition and rebalance.
            entries = sorted((v["written_at"], k) for k, v in list(self.table.items()) if self._holds(v, partition))
            written = self._written[partition] = deque(entries)
            owned: dict[str, OrderedDict[str, float]] = {}
            if self.max_per_owner is not None:
                for at, key in entries:
                    owner = self.owner_of(key)
                    if owner is not None:
                        owned.setdefault(owner, OrderedDict())[key] = at
            self._owned[partition] = owned
        return written

    def _make_room(self, partition: int, owner: str, key: str) -> list[str]:
        assert self.max_per_owner is not None
        keys = self._owned[partition].get(owner)
        if keys is None or key in keys:  # a rewrite takes no more room
            return []
        dropped = []
        while len(keys) >= self.max_per_owner:
            old, at = keys.popitem(last=False)
            # Already gone (expired) or rewritten elsewhere: it took no room here any more.
            if self._delete_if_current(old, at, partition):
                dropped.append(old)
        return dropped

    def _forget_expired(self, written: deque[tuple[float, str]], partition: int, cutoff: float) -> None:
        for _ in range(self.per_write):
            if not written or written[0][0] > cutoff:
                return
            at, key = written.popleft()
            # Rewritten since (a session's next turn) means a later entry in the queue stands for it.
            if self._delete_if_current(key, at, partition):
                self._disown(partition, key)

    def _disown(self, partition: int, key: str) -> None:
        if self.max_per_owner is None or (owner := self.owner_of(key)) is None:
            return
        by_owner = self._owned[partition]
        keys = by_owner.get(owner)
        if keys is not None:
            keys.pop(key, None)
            if not keys:  # an owner with no entries left here takes no memory
                del by_owner[owner]

    def _delete_if_current(self, key: str, written_at: float, partition: int) -> bool:
        """Delete `key` if its entry is still the one written at `written_at` in `partition`."""
        stored = self.table.get(key)
        if self._holds(stored, partition) and stored["written_at"] == written_at:
            del self.table[key]
            return True
        return False

    @staticmethod
    def _holds(stored: Any, partition: int) -> TypeGuard[dict[str, Any]]:
        return _is_envelope(stored) and stored["partition"] == partition
