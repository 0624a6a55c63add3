"""The batcher's waiting room: queued items per model version and the rules that pick the next batch."""

from __future__ import annotations

import asyncio
from bisect import insort
from dataclasses import dataclass, field
from typing import Generic

from models.batching.types import BatchLimits, Outcome, P, R, WorkItem


@dataclass(eq=False)
class Pending(Generic[P, R]):
    """A queued item with its arrival order and the future its submitter awaits."""

    item: WorkItem[P]
    seq: int
    submitted_at: float
    enqueued_at: float
    future: asyncio.Future[Outcome[R]] = field(repr=False)

    def expired(self, now: float) -> bool:
        return self.item.deadline is not None and self.item.deadline <= now


def _order(entry: Pending[P, R]) -> tuple[int, int]:
    # Higher priority first, then FIFO.
    return (-entry.item.priority, entry.seq)


@dataclass(frozen=True)
class Candidate(Generic[P, R]):
    """The batch a version would send if picked now."""

    model_version: str
    entries: list[Pending[P, R]]
    tokens: int
    full: bool
    oldest: Pending[P, R]


class PendingQueue(Generic[P, R]):
    """Items waiting for the model, grouped by model version (a batch never mixes versions).

    Sizes are bounded by max_queue (hundreds), so plain sorted lists beat heaps on clarity at no real cost.
    """

    def __init__(self, limits: BatchLimits) -> None:
        self._limits = limits
        self._by_version: dict[str, list[Pending[P, R]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, entry: Pending[P, R]) -> None:
        insort(self._by_version.setdefault(entry.item.model_version, []), entry, key=_order)
        self._count += 1

    def remove(self, entry: Pending[P, R]) -> bool:
        """Take one entry out (a cancelled submitter); False when it has already left the queue."""
        entries = self._by_version.get(entry.item.model_version)
        if entries is None or entry not in entries:
            return False
        entries.remove(entry)
        self._forget_if_empty(entry.item.model_version)
        self._count -= 1
        return True

    def take(self, candidate: Candidate[P, R]) -> None:
        taken = {id(e) for e in candidate.entries}
        entries = self._by_version[candidate.model_version]
        self._by_version[candidate.model_version] = [e for e in entries if id(e) not in taken]
        self._forget_if_empty(candidate.model_version)
        self._count -= len(candidate.entries)

    def expire(self, now: float) -> list[Pending[P, R]]:
        """Remove and return every entry whose deadline has passed."""
        expired: list[Pending[P, R]] = []
        for version in list(self._by_version):
            keep: list[Pending[P, R]] = []
            for entry in self._by_version[version]:
                (expired if entry.expired(now) else keep).append(entry)
            self._by_version[version] = keep
            self._forget_if_empty(version)
        self._count -= len(expired)
        return expired

    def candidate(self, version: str) -> Candidate[P, R]:
        """The entries, in priority order, that one batch of this version takes now (BatchLimits.select)."""
        entries = self._by_version[version]
        news = [entry.item.new_tokens for entry in entries]
        indexes, full = self._limits.select(
            [entry.item.cost_tokens for entry in entries],
            None if None in news else [n for n in news if n is not None],
        )
        chosen = [entries[index] for index in indexes]
        tokens = self._limits.padded_tokens(entry.item.cost_tokens for entry in chosen)
        oldest = min(chosen, key=lambda e: e.seq)
        return Candidate(model_version=version, entries=chosen, tokens=tokens, full=full, oldest=oldest)

    def ready_at(self, candidate: Candidate[P, R]) -> float:
        """Clock time at which the candidate closes by max_wait."""
        return candidate.oldest.enqueued_at + self._limits.max_wait_ms / 1000.0

    def next_batch(self, now: float, *, flush: bool) -> Candidate[P, R] | None:
        """The ready batch whose oldest item has waited longest, or None when none is ready.

        Ready: full by size or tokens, its oldest item has waited max_wait, or `flush` (draining).
        Oldest-item-first across versions keeps a busy version from starving a quiet one.
        """
        ready = [c for c in (self.candidate(v) for v in self._by_version) if flush or c.full or now >= self.ready_at(c)]
        if not ready:
            return None
        return min(ready, key=lambda c: c.oldest.seq)

    def next_due(self, *, include_batches: bool) -> float | None:
        """Earliest clock time at which something changes by itself: a deadline, or (optionally) a max_wait."""
        times = [e.item.deadline for es in self._by_version.values() for e in es if e.item.deadline is not None]
        if include_batches:
            times.extend(self.ready_at(self.candidate(v)) for v in self._by_version)
        return min(times, default=None)

    def drain_all(self) -> list[Pending[P, R]]:
        """Remove and return everything (the scheduler died and must not leave submitters hanging)."""
        everything = [e for es in self._by_version.values() for e in es]
        self._by_version.clear()
        self._count = 0
        return everything

    def _forget_if_empty(self, version: str) -> None:
        if not self._by_version.get(version, True):
            del self._by_version[version]
