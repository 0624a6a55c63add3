"""Verifies the audit hash chain of each partition and names every tampering: one problem per tampering, not a cascade.

The verifier is pure: it takes `(partition, offset, value bytes)` records in offset order per partition (partitions
may interleave), the keys that verify checkpoints and, when known, each partition's watermarks, and returns a
report. For each partition it recomputes every event's hash, follows `seq` and `prev_hash` from event to event,
keeps the partition's Merkle tree and checks every checkpoint. After a problem it resynchronises on the event's
own seq and hash, so one altered, removed, added or moved event yields one problem:

- `unparseable`: not a JSON object with integer `seq` and string `prev_hash` / `hash`;
- `modified`: the stored hash is not the hash of the content (changed after sealing, hash not recomputed);
- `broken_link`: the seqs follow but `prev_hash` is not the previous event's hash: the previous event was rewritten
  and its hash recomputed;
- `deleted`: seqs are missing (reported at the offset of the event after the gap);
- `inserted`: an event that does not fit: a seq that appears twice, or an event whose seq and prev_hash do not link
  where it stands while the next event does (the offsets of both are named);
- `reordered`: an event stored out of seq order that links where its seq belongs;
- `bad_checkpoint`: a signed tree head whose signature does not verify under the public key of its key id (or
  whose key id no public key was given for), whose head hash is not the hash of the event with that seq, or whose
  Merkle root is not the root of the events before it; a legacy HMAC checkpoint whose MAC is wrong, or that comes
  after a signed tree head (anyone holding the HMAC key could have made it);
- `rejected`: an event the chainer found after its last checkpoint, not written by it, and recorded as rejected in
  a signed tree head (agents/audit_chain/resume.py);
- `truncated`: the partition's log now starts later than a signed tree head recorded (records deleted from the
  start), or the chain ends before a head signed earlier (`expected_heads`: removed from the end);
- `rewritten`: the event at a seq a head signed earlier covers has another hash now;
- `no_valid_checkpoint`: events, but no checkpoint in the partition verified, so none of them is authenticated;
- `unauthenticated_tail`: more events after the last valid checkpoint than `max_unauthenticated`.

The last two apply when the read reaches the partition's end (no `until`). A legacy HMAC checkpoint without its key
is a notice (`unverifiable_checkpoint`), not a problem: the signed tree heads after it cover the same events.

Each problem names the event it flags by partition, offset, seq, event type and tenant, never by its content.

Reading from the start of a partition, the first event must be seq 0 with GENESIS as prev_hash. Verifying a window
(`since`), the window's first event is the anchor: its own hash is checked but its prev_hash cannot be, and Merkle
roots are checked from the first verified signed head on (its frontier stands in for the events before it). The
window of a partition is contiguous: from its first event emitted at or after `since` up to the event before the
first one emitted after `until`, so that events whose clocks disagree slightly never look like gaps.

Memory: the hash of every seq of a partition is kept (about 150 bytes per event) to resolve checkpoints, duplicates
and moved events, plus the seq and kind of each event since the last valid checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from agents.audit_chain.checkpoints import SignedHead
from agents.core.audit_keys import CheckpointKeys
from agents.tools.audit.entries import event_time, parse_event
from agents.tools.audit.partition_chain import Bounds, PartitionChain, Rules
from agents.tools.audit.report import ChainReport

__all__ = ["Bounds", "ChainVerifier", "Rules", "verify_records"]


class ChainVerifier:
    """Feed it records in offset order per partition, then ask for the report (see the module docstring).

    `bounds` (each partition's watermarks when reading began) enable the truncation checks and name partitions
    left empty; `expected_heads` are signed tree heads recorded earlier, which each chain must still reach.
    """

    def __init__(
        self,
        keys: CheckpointKeys,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        topic: str = "audit.events.v1",
        max_unauthenticated: int | None = None,
        bounds: Mapping[int, Bounds] | None = None,
        expected_heads: Mapping[int, SignedHead] | None = None,
    ) -> None:
        self.keys = keys
        self.since, self.until = since, until
        self.topic = topic
        self.max_unauthenticated = max_unauthenticated
        self.bounds: dict[int, Bounds] = dict(bounds or {})
        self.expected_heads = dict(expected_heads or {})
        self._chains: dict[int, PartitionChain] = {}
        self._started: set[int] = set()
        self._ended: set[int] = set()

    def set_bounds(self, bounds: Mapping[int, Bounds]) -> None:
        self.bounds.update(bounds)

    def feed(self, partition: int, offset: int, value: bytes | None) -> dict[str, Any] | None:
        """Takes one record; returns its event when it parses (replay reuses it), else None."""
        parsed = parse_event(value)
        event = parsed if isinstance(parsed, dict) else None
        if self._in_window(partition, event):
            self._chain(partition).push(offset, parsed)
        return event

    def _chain(self, partition: int) -> PartitionChain:
        chain = self._chains.get(partition)
        if chain is None:
            rules = Rules(
                self.topic,
                self.max_unauthenticated,
                reaches_end=self.until is None,
                bounds=self.bounds.get(partition),
                expected=self.expected_heads.get(partition),
            )
            chain = self._chains[partition] = PartitionChain(partition, self.keys, rules, from_start=self.since is None)
        return chain

    def _in_window(self, partition: int, event: dict[str, Any] | None) -> bool:
        if partition in self._ended:
            return False
        when = event_time(event) if event is not None else None
        if partition not in self._started:
            if self.since is not None and (when is None or when < self.since):
                return False
            self._started.add(partition)
        if self.until is not None and when is not None and when > self.until:
            self._ended.add(partition)
            return False
        return True

    def report(self) -> ChainReport:
        # A partition with no record read still has a verdict when its log was emptied or a head was expected.
        for partition in sorted(set(self.bounds) | set(self.expected_heads)):
            emptied = partition in self.bounds and self.bounds[partition].low > 0
            if partition not in self._chains and (emptied or partition in self.expected_heads):
                self._chain(partition)
        partitions = tuple(self._chains[p].finish() for p in sorted(self._chains))
        self._chains.clear()
        ids = ", ".join(sorted(self.keys.public)) or "none"
        keys = f"public keys {ids} ({self.keys.source})" + (
            f", legacy HMAC keys {', '.join(sorted(self.keys.hmac))}" if self.keys.hmac else ""
        )
        return ChainReport(partitions, self.since, self.until, keys)


def verify_records(
    records: Iterable[tuple[int, int, bytes | None]],
    keys: CheckpointKeys,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    topic: str = "audit.events.v1",
    max_unauthenticated: int | None = None,
    bounds: Mapping[int, Bounds] | None = None,
    expected_heads: Mapping[int, SignedHead] | None = None,
) -> ChainReport:
    """Verifies `(partition, offset, value)` records (offset order per partition) against the checkpoint keys."""
    verifier = ChainVerifier(
        keys,
        since=since,
        until=until,
        topic=topic,
        max_unauthenticated=max_unauthenticated,
        bounds=bounds,
        expected_heads=expected_heads,
    )
    for partition, offset, value in records:
        verifier.feed(partition, offset, value)
    return verifier.report()
