"""Where a (re)started chainer resumes a partition's chain, checked back to its last valid checkpoint.

The chainer never signs over events it did not write. Loading a partition, it finds the last checkpoint whose
signature it can check (its anchor) and walks every record after it. An event is the chainer's own when it links
(the next seq, the previous hash), its hash is right and its seal verifies (agents/audit_chain/chain.py); the chain
goes on from the last such event. Anything else on the partition after the anchor was written by someone else:

- records that do not link (a repeated or skipped seq, a wrong prev_hash, not JSON, …) are not part of the chain;
  a verifier flags them itself;
- records that do link but are not the chainer's (no seal, a seal that does not verify, changed content) are now
  part of the chain, since any later event must link through them: the chain goes on after them, and their seqs
  are recorded as rejected in every later signed tree head, so that `verify` flags them and no inclusion proof for
  one of them checks. When a sealed event of ours links at the same place further on, it wins (an append that
  raced the running chainer), and the foreign record is merely skipped.

Either way the chainer writes an `audit.tail_rejected` event naming the foreign records' offsets, then a checkpoint,
and logs a critical line: tampering is recorded in the chain itself, never signed over, and never stops auditing.

Some tails the chainer cannot judge; then it refuses to start (ChainRefusedError, an operator must act):
- a tail sealed under a key id it knows but holds no private key for (a retired key removed before a checkpoint
  under the new one covered its events: configure it again);
- events written unsealed by an earlier version after the last checkpoint it can check (an upgrade with a tail:
  set SLUICE_AUDIT_ACCEPT_LEGACY_TAIL=true once, or supply the HMAC key of the old checkpoints);
- a partition whose records do not start a chain from seq 0 and hold no signed tree head to resume from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.audit_chain.chain import CHECKPOINT_EVENT, GENESIS, ChainHead, Sealer, event_hash, seal_status
from agents.audit_chain.checkpoints import SignedHead, verify_checkpoint
from agents.audit_chain.merkle import event_leaf
from agents.core.audit_keys import CheckpointKeys
from schemas.errors import SluiceError

MAX_NAMED_OFFSETS = 100


class ChainRefusedError(SluiceError):
    """The chainer cannot tell whether the tail of a partition is its own: it will not seal until an operator acts."""

    def __init__(self, partition: int, reason: str, offsets: Sequence[int] = ()) -> None:
        super().__init__(f"audit.events.v1[{partition}]: {reason}")
        self.partition = partition
        self.reason = reason
        self.offsets = tuple(offsets)


@dataclass(frozen=True)
class Record:
    """One record of the partition: its offset and, when it is a chain event, the event."""

    offset: int
    event: dict[str, Any] | None

    @property
    def seq(self) -> int:
        assert self.event is not None
        return int(self.event["seq"])


def as_record(offset: int, value: dict[str, Any] | None) -> Record:
    """A decoded record; anything without an integer seq and string prev_hash/hash is not a chain event."""
    if isinstance(value, dict):
        seq = value.get("seq")
        if (
            type(seq) is int
            and seq >= 0
            and isinstance(value.get("prev_hash"), str)
            and isinstance(value.get("hash"), str)
        ):
            return Record(offset, value)
    return Record(offset, None)


@dataclass
class Resumed:
    """The head to continue from, and what the chainer should say about how it got there."""

    head: ChainHead
    anchor_offset: int | None = None
    foreign_offsets: list[int] = field(default_factory=list)
    legacy_tail: list[int] = field(default_factory=list)  # offsets of unsealed legacy events accepted
    truncated_from: int | None = None  # the low watermark a signed head recorded, when the log now starts later


@dataclass
class _Walk:
    partition: int
    topic: str
    keys: CheckpointKeys
    sealers: Mapping[str, Sealer]
    head: ChainHead
    sealed_era: bool
    anchor_offset: int | None = None
    last_low_watermark: int | None = None
    legacy_tail: list[int] = field(default_factory=list)
    foreign_in_chain: list[tuple[int, int]] = field(default_factory=list)  # (seq, offset)
    skipped: list[int] = field(default_factory=list)
    started: bool = False

    def links(self, record: Record) -> bool:
        event = record.event
        return event is not None and event["seq"] == self.head.next_seq and event["prev_hash"] == self.head.last_hash

    def ours_later(self, records: Sequence[Record], index: int) -> bool:
        """Whether a sealed event of ours links where records[index] stands, further on (it wins the place)."""
        return any(self.links(later) and _sealed_by_us(later.event, self.sealers) for later in records[index + 1 :])

    def take(self, records: Sequence[Record], index: int) -> None:
        record = records[index]
        event = record.event
        if event is None:
            if self.started:
                self.skipped.append(record.offset)
            return  # before the first chain event: written before the chain existed
        if not self.links(record):
            self.skipped.append(record.offset)
            return
        self.started = True
        if event_hash(event) != event["hash"]:
            self._foreign(records, index)  # content changed after sealing
            return
        if self._anchor(record):  # a checkpoint that verifies is authentic whatever its seal says
            return
        status = seal_status(event, self.sealers)
        if status == "ours":
            self.sealed_era = True
            self.legacy_tail.clear()  # a chainer of this version accepted everything before its first seal
            self.head.advance(event)
        elif status == "unsealed" and not self.sealed_era:
            self.head.advance(event)
            self.legacy_tail.append(record.offset)
        elif status == "unknown_key" and event["seal"]["key_id"] in self.keys.public:
            key_id = event["seal"]["key_id"]
            raise ChainRefusedError(
                self.partition,
                f"the event at offset {record.offset} (seq {event['seq']}) is sealed under key id {key_id!r}, whose "
                "private key is not configured: add it back to SLUICE_AUDIT_SIGNING_KEYS until a checkpoint under "
                "the signing id covers it",
                [record.offset],
            )
        else:
            self._foreign(records, index)

    def _foreign(self, records: Sequence[Record], index: int) -> None:
        record = records[index]
        assert record.event is not None
        if self.ours_later(records, index):
            self.skipped.append(record.offset)
            return
        self.foreign_in_chain.append((record.seq, record.offset))
        self.head.advance(record.event)

    def _anchor(self, record: Record) -> bool:
        """A checkpoint we can verify, at the head it names, becomes the anchor the chain resumes from."""
        event = record.event
        assert event is not None
        details = event.get("details")
        if event.get("event_type") != CHECKPOINT_EVENT or not isinstance(details, dict):
            return False
        verdict = verify_checkpoint(details, self.partition, self.keys)
        if not verdict.valid:
            return False
        if verdict.legacy:
            if (
                self.sealed_era
                or details.get("head_seq") != record.seq - 1
                or details.get("head_hash") != event["prev_hash"]
            ):
                return False  # after the first seal, a legacy MAC anyone with the HMAC key could make proves nothing
            self.head.advance(event)
        else:
            signed = verdict.head
            assert signed is not None
            if not _heads_here(signed, event, self.topic):
                return False
            self.head.advance(event)
            # Trust the tree we signed: the frontier it carries, plus this checkpoint's own leaf.
            self.head.tree = signed.frontier.copy()
            self.head.tree.append(event_leaf(event["hash"]))
            self.head.rejected = list(signed.rejected)
            self.last_low_watermark = signed.low_watermark
            self.sealed_era = True
            self.foreign_in_chain.clear()  # those before a valid signed head are in its `rejected` already
        self.head.checkpointed_seq = record.seq
        self.anchor_offset = record.offset
        self.legacy_tail.clear()
        self.skipped.clear()  # not in the chain, and not signed over: the verifier flags them where they stand
        return True


def _sealed_by_us(event: Mapping[str, Any] | None, sealers: Mapping[str, Sealer]) -> bool:
    return event is not None and event_hash(event) == event["hash"] and seal_status(event, sealers) == "ours"


def _heads_here(signed: SignedHead, event: Mapping[str, Any], topic: str) -> bool:
    """A signed head is an anchor only where it was sealed: right after its head, in this topic's chain."""
    return signed.topic == topic and signed.tree_size == event["seq"] and signed.head_hash == event["prev_hash"]


def _find_anchor(
    records: Sequence[Record], partition: int, topic: str, keys: CheckpointKeys, sealers: Mapping[str, Sealer]
) -> int | None:
    """Index of the last valid signed tree head in `records` that no event of ours before it outranks."""
    found, highest_ours = None, -1
    for index, record in enumerate(records):
        event = record.event
        if event is None or event_hash(event) != event["hash"]:
            continue
        details = event.get("details")
        if event.get("event_type") == CHECKPOINT_EVENT and isinstance(details, dict) and record.seq > highest_ours:
            verdict = verify_checkpoint(details, partition, keys)
            # A copy of an old head appended later has a lower seq than events of ours before it: no anchor.
            if verdict.valid and verdict.head is not None and _heads_here(verdict.head, event, topic):
                found = index
        if seal_status(event, sealers) == "ours":
            highest_ours = max(highest_ours, record.seq)
    return found


def resume_chain(
    partition: int,
    records: Sequence[Record],
    *,
    topic: str,
    keys: CheckpointKeys,
    sealers: Mapping[str, Sealer],
    low_watermark: int,
    from_start: bool,
    accept_legacy_tail: bool = False,
    now: float = 0.0,
) -> Resumed | None:
    """The head to continue `partition` from, given its records from some offset to its end (offset order).

    Returns None when `records` do not reach back to a signed tree head and do not start at the partition's
    beginning (`from_start`): read more. Raises ChainRefusedError for tails the chainer cannot judge.
    """
    head = ChainHead(checkpointed_at=now, low_watermark=low_watermark)
    start = 0
    sealed_era = False
    if not from_start:
        anchor = _find_anchor(records, partition, topic, keys, sealers)
        if anchor is None:
            return None
        event = records[anchor].event
        assert event is not None
        head.next_seq, head.last_hash = int(event["seq"]), str(event["prev_hash"])
        start, sealed_era = anchor, True
    walk = _Walk(partition, topic, keys, sealers, head, sealed_era)
    for index in range(start, len(records)):
        walk.take(records, index)
    if head.next_seq == 0 and walk.skipped:
        raise ChainRefusedError(
            partition,
            "no record links from genesis (seq 0) and no signed tree head was found to resume from: the start of the "
            "partition was deleted, or it does not hold a chain",
            walk.skipped[:MAX_NAMED_OFFSETS],
        )
    if walk.legacy_tail and not walk.sealed_era and not accept_legacy_tail:
        tail = walk.legacy_tail
        raise ChainRefusedError(
            partition,
            f"{len(tail)} event(s) at offsets {tail[0]}..{tail[-1]} were written unsealed (by an earlier version, or "
            "by someone else) after the last checkpoint that can be checked; supply the HMAC key of the old "
            "checkpoints (SLUICE_AUDIT_HMAC_KEYS), or, for an upgrade, set SLUICE_AUDIT_ACCEPT_LEGACY_TAIL=true for "
            "one start",
            tail[:MAX_NAMED_OFFSETS],
        )
    head.checkpointed_at = now
    resumed = Resumed(head, walk.anchor_offset, legacy_tail=list(walk.legacy_tail))
    foreign = sorted([offset for _, offset in walk.foreign_in_chain] + walk.skipped)
    if foreign:
        seqs = [seq for seq, _ in walk.foreign_in_chain]
        ranges = _ranges(seqs)
        head.rejected = [*head.rejected, *ranges]
        head.rejection = {
            "partition": partition,
            "records": len(foreign),
            "first_offset": foreign[0],
            "last_offset": foreign[-1],
            "offsets": foreign[:MAX_NAMED_OFFSETS],
            "rejected_seqs": [[first, last] for first, last in ranges],
            "resumed_after_seq": head.next_seq - 1,
        }
        resumed.foreign_offsets = foreign
    if walk.last_low_watermark is not None and low_watermark > walk.last_low_watermark:
        resumed.truncated_from = walk.last_low_watermark
    return resumed


def _ranges(seqs: Sequence[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def genesis_head(low_watermark: int, now: float) -> ChainHead:
    """The head of an empty partition."""
    return ChainHead(next_seq=0, last_hash=GENESIS, checkpointed_at=now, low_watermark=low_watermark)
