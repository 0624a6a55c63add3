"""Verifies the audit hash chain of each partition and names every tampering: one problem per tampering, not a cascade.

The verifier is pure: it takes `(partition, offset, value bytes)` records in offset order per partition (partitions
may interleave) and the checkpoint keys, and returns a report. For each partition it recomputes every event's hash,
follows `seq` and `prev_hash` from event to event and checks every checkpoint's HMAC and head. After a problem it
resynchronises on the event's own seq and hash, so one altered, removed, added or moved event yields one problem:

- `unparseable`: not a JSON object with integer `seq` and string `prev_hash` / `hash`;
- `modified`: the stored hash is not the hash of the content (changed after sealing, hash not recomputed);
- `broken_link`: the seqs follow but `prev_hash` is not the previous event's hash: the previous event was rewritten
  and its hash recomputed;
- `deleted`: seqs are missing (reported at the offset of the event after the gap);
- `inserted`: an event that does not fit: a seq that appears twice, or an event whose seq and prev_hash do not link
  where it stands while the next event does (the offsets of both are named);
- `reordered`: an event stored out of seq order that links where its seq belongs;
- `bad_checkpoint`: invalid MAC, unknown key id, or an authenticated head hash that is not the hash of the event
  with that seq.

What hashes cannot show: events removed from the end of a partition leave an intact, shorter chain, and events
appended by someone who can compute SHA-256 link like real ones. A checkpoint's HMAC authenticates the chain up
to its head, so only `unauthenticated_tail` events (after the last valid checkpoint) could have been appended, and
truncation back to a checkpoint (or an earlier one) is visible only against an independent record of the last
checkpoint (an archived copy, a checkpoint count held elsewhere).

Reading from the start of a partition, the first event must be seq 0 with GENESIS as prev_hash. Verifying a window
(`since`), the window's first event is the anchor: its own hash is checked but its prev_hash cannot be. The window
of a partition is contiguous: from its first event emitted at or after `since` up to the event before the first
one emitted after `until`, so that events whose clocks disagree slightly never look like gaps.

Memory: the hash of every seq of a partition is kept (about 150 bytes per event) to resolve checkpoints, duplicates
and moved events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents.audit_chain.chain import GENESIS, checkpoint_problem
from agents.tools.audit.entries import Entry, entry_of, event_time, parse_event, usable
from agents.tools.audit.report import PROBLEM_KINDS, ChainReport, PartitionReport, Problem, ProblemKind


@dataclass
class _Gap:
    """Seqs first..last are missing before the event at `offset`; becomes `deleted` unless they turn up later."""

    first: int
    last: int
    offset: int


def _seqs(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seqs {first}..{last}"


class _PartitionChain:
    """Follows one partition's chain. Processing runs one record behind reading, so each event can see the next."""

    def __init__(self, partition: int, keys: Mapping[str, bytes], *, from_start: bool) -> None:
        self.partition = partition
        self.keys = keys
        self.report = PartitionReport(partition, "genesis" if from_start else "window")
        self.next_seq: int | None = 0 if from_start else None
        self.last_hash: str | None = GENESIS if from_start else None  # None: the next link cannot be checked
        self.unreadable = 0  # events since the last chain event whose seq and hash cannot be trusted
        self.hashes: dict[int, str] = {}
        self.where: dict[int, int] = {}
        self.claimed: dict[int, str] = {}  # prev_hash a successor claims for a seq whose own hash is unknown/replaced
        self.gaps: list[_Gap] = []
        self.aside: dict[int, Entry] = {}  # events that came before the events they follow
        self.last_checkpoint_ordinal = -1
        self.pending: Entry | None = None

    # -- input ----------------------------------------------------------------------------------------------------
    def push(self, offset: int, parsed: dict[str, Any] | str) -> None:
        report = self.report
        entry = entry_of(offset, report.events, parsed)
        report.events += 1
        if report.first_offset is None:
            report.first_offset = offset
        report.last_offset = offset
        if self.pending is not None:
            self._process(self.pending, entry)
        self.pending = entry

    def finish(self) -> PartitionReport:
        if self.pending is not None:
            self._process(self.pending, None)
            self.pending = None
        if self.next_seq is not None:
            self._fill_from_aside(None)
        for entry in sorted(self.aside.values(), key=lambda e: e.seq):
            if not self._fill_gap(entry):
                self._problem(
                    entry.offset, "inserted", f"seq {entry.seq} does not fit anywhere in the chain", (entry.offset,)
                )
        self.aside.clear()
        for gap in self.gaps:
            self._problem(
                gap.offset,
                "deleted",
                f"{_seqs(gap.first, gap.last)} missing before offset {gap.offset}",
                (gap.offset,),
            )
        report = self.report
        report.problems.sort(key=lambda p: (p.offset, PROBLEM_KINDS.index(p.kind)))
        report.unauthenticated_tail = report.events - 1 - self.last_checkpoint_ordinal
        return report

    # -- classification -------------------------------------------------------------------------------------------
    def _process(self, entry: Entry, peek: Entry | None) -> None:
        if entry.event is None:
            self._problem(entry.offset, "unparseable", f"not a chain event: {entry.reason}", (entry.offset,))
            self.unreadable += 1
            return
        if not entry.hash_ok:
            self._modified(entry)
            return
        if self.next_seq is None:  # the anchor of a window: its prev_hash cannot be checked
            if usable(peek) and peek.seq < entry.seq and entry.seq not in self.aside:
                self.aside[entry.seq] = entry  # stored out of order: anchor on the lower seq that follows
                return
            self.unreadable = 0
            self.claimed[entry.seq - 1] = entry.prev
            self._advance(entry)
            return
        if self.unreadable:
            seq, expected = entry.seq, self.next_seq
            if expected <= seq <= expected + self.unreadable:
                # The unreadable events held the seqs in between (or were added garbage): resume here, unlinked.
                self.unreadable = 0
                self.claimed[seq - 1] = entry.prev
                self._advance(entry)
                return
            if seq > expected:
                self.next_seq, self.last_hash = expected + self.unreadable, None
            self.unreadable = 0
        self._place(entry, peek)

    def _modified(self, entry: Entry) -> None:
        self._problem(
            entry.offset,
            "modified",
            f"stored hash is not the hash of the content (seq field {entry.seq}): changed after sealing",
            (entry.offset,),
        )
        if self.next_seq is not None and not self.unreadable and entry.prev == self.last_hash:
            # Only the content changed: its stored hash is the one the next event links to.
            self._advance(entry, seq=self.next_seq, checkpoint=False)
            return
        self.unreadable += 1

    def _place(self, entry: Entry, peek: Entry | None) -> None:
        assert self.next_seq is not None
        seq, expected = entry.seq, self.next_seq
        if seq > expected:
            self._fill_from_aside(seq)
            expected = self.next_seq
        if seq == expected:
            self._at_expected(entry, peek)
        elif seq > expected:
            self._ahead(entry, peek, expected)
        else:
            self._behind(entry, peek)

    def _at_expected(self, entry: Entry, peek: Entry | None) -> None:
        seq, last = entry.seq, self.last_hash
        if last is None or entry.prev == last:
            self._advance(entry)
            return
        if usable(peek) and peek.seq == seq and peek.prev == last:
            self._problem(
                entry.offset,
                "inserted",
                f"seq {seq} does not link to seq {seq - 1}; the next event (offset {peek.offset}) has the same seq "
                "and does",
                (entry.offset, peek.offset),
            )
            return
        before = self.where.get(seq - 1)
        if before is None:
            detail = f"prev_hash is not the hash of the event before it (seq {seq - 1})"
        else:
            detail = (
                f"prev_hash is not the hash of seq {seq - 1} (offset {before}): that event was rewritten after "
                "sealing and its hash recomputed"
            )
        self._problem(entry.offset, "broken_link", detail, (*((before,) if before is not None else ()), entry.offset))
        self.claimed[seq - 1] = entry.prev
        self._advance(entry)

    def _ahead(self, entry: Entry, peek: Entry | None, expected: int) -> None:
        seq = entry.seq
        last = self.last_hash
        if usable(peek) and peek.seq == expected and (last is None or peek.prev == last) and seq not in self.aside:
            # The next event continues the chain from here: this one came early (moved) or does not belong.
            self.aside[seq] = entry
            return
        self.gaps.append(_Gap(expected, seq - 1, entry.offset))
        self.claimed[seq - 1] = entry.prev
        self._advance(entry)

    def _behind(self, entry: Entry, peek: Entry | None) -> None:
        seq = entry.seq
        first = self.where.get(seq)
        if first is not None:
            if entry.hash == self.hashes[seq]:
                detail = f"seq {seq} again, an exact copy of offset {first}"
                self._problem(entry.offset, "inserted", detail, (first, entry.offset))
                return
            assert self.next_seq is not None
            continues_here = usable(peek) and peek.prev == entry.hash and peek.seq == seq + 1
            if seq == self.next_seq - 1 and continues_here and self._links_back(entry):
                # The chain goes on from this event: the earlier one with its seq was the addition.
                self._problem(
                    first,
                    "inserted",
                    f"seq {seq} appears twice (offsets {first} and {entry.offset}); the chain continues from offset "
                    f"{entry.offset}, so offset {first} was added",
                    (first, entry.offset),
                )
                self.hashes[seq], self.where[seq], self.last_hash = entry.hash, entry.offset, entry.hash
                self._check_checkpoint(entry)
                return
            self._problem(
                entry.offset,
                "inserted",
                f"seq {seq} appears twice (offsets {first} and {entry.offset}); the chain does not continue from "
                f"offset {entry.offset}",
                (first, entry.offset),
            )
            return
        if self._fill_gap(entry):
            return
        low = self.report.first_seq
        if low is not None and seq < low:
            self._problem(
                entry.offset,
                "inserted",
                f"seq {seq} is lower than the window's first seq {low}: added later, or moved from before the window",
                (entry.offset,),
            )
            return
        self._problem(
            entry.offset, "inserted", f"seq {seq} is missing from the chain but does not link there", (entry.offset,)
        )

    def _fill_from_aside(self, until_seq: int | None) -> None:
        """Events set aside because they came early take their place once the chain reaches them."""
        while self.next_seq is not None and self.next_seq in self.aside:
            if until_seq is not None and self.next_seq >= until_seq:
                return
            early = self.aside[self.next_seq]
            if self.last_hash is not None and early.prev != self.last_hash:
                return
            del self.aside[self.next_seq]
            before = self.where.get(early.seq - 1)
            self._problem(
                early.offset,
                "reordered",
                f"seq {early.seq} at offset {early.offset} is stored before seq {early.seq - 1}"
                + (f" (offset {before})" if before is not None else "")
                + ", which it follows",
                (early.offset, *((before,) if before is not None else ())),
            )
            self._advance(early)

    def _fill_gap(self, entry: Entry) -> bool:
        """A late event whose seq is in a gap and which links on both sides: reordered, not deleted."""
        seq = entry.seq
        for index, gap in enumerate(self.gaps):
            if not gap.first <= seq <= gap.last:
                continue
            if not self._links_back(entry) or self.claimed.get(seq, entry.hash) != entry.hash:
                return False
            self._problem(
                entry.offset,
                "reordered",
                f"seq {seq} at offset {entry.offset} belongs before offset {gap.offset}",
                (entry.offset, gap.offset),
            )
            rest = [_Gap(gap.first, seq - 1, gap.offset), _Gap(seq + 1, gap.last, gap.offset)]
            self.gaps[index : index + 1] = [g for g in rest if g.first <= g.last]
            self.hashes[seq], self.where[seq] = entry.hash, entry.offset
            self._note_seq(seq)
            self._check_checkpoint(entry)
            return True
        return False

    def _links_back(self, entry: Entry) -> bool:
        before = self.hashes.get(entry.seq - 1, GENESIS if entry.seq == 0 else None)
        return before is None or entry.prev == before or self.claimed.get(entry.seq - 1) == entry.prev

    def _advance(self, entry: Entry, *, seq: int | None = None, checkpoint: bool = True) -> None:
        seq = entry.seq if seq is None else seq
        self.hashes[seq], self.where[seq] = entry.hash, entry.offset
        self.next_seq, self.last_hash = seq + 1, entry.hash
        self._note_seq(seq)
        if checkpoint:
            self._check_checkpoint(entry)

    def _note_seq(self, seq: int) -> None:
        report = self.report
        report.first_seq = seq if report.first_seq is None else min(report.first_seq, seq)
        report.last_seq = seq if report.last_seq is None else max(report.last_seq, seq)

    def _check_checkpoint(self, entry: Entry) -> None:
        if not entry.is_checkpoint:
            return
        assert entry.event is not None
        details = entry.event.get("details")
        if not isinstance(details, dict):
            self._problem(entry.offset, "bad_checkpoint", "checkpoint without details", (entry.offset,))
            return
        why = checkpoint_problem(details, self.partition, self.keys)
        if why is not None:
            self._problem(entry.offset, "bad_checkpoint", why, (entry.offset,))
            return
        head_seq, head_hash = int(details["head_seq"]), str(details["head_hash"])
        if head_seq >= entry.seq:
            self._problem(
                entry.offset,
                "bad_checkpoint",
                f"checkpoint (seq {entry.seq}) claims a head seq {head_seq} that does not precede it",
                (entry.offset,),
            )
            return
        known = self.hashes.get(head_seq)
        if known is not None and known != head_hash and self.claimed.get(head_seq) != head_hash:
            at = self.where[head_seq]
            self._problem(
                entry.offset,
                "bad_checkpoint",
                f"checkpoint (valid MAC, key {details['key_id']}) authenticates a different hash for seq {head_seq} "
                f"than the event at offset {at}: the chain up to it was rewritten",
                (at, entry.offset),
            )
            return
        # Valid MAC and a head that matches (or lies before the window, or in a gap already reported).
        self.report.checkpoints_verified += 1
        self.last_checkpoint_ordinal = max(self.last_checkpoint_ordinal, entry.ordinal)

    def _problem(self, offset: int, kind: ProblemKind, detail: str, offsets: tuple[int, ...]) -> None:
        self.report.problems.append(Problem(self.partition, offset, kind, detail, offsets))


class ChainVerifier:
    """Feed it records in offset order per partition, then ask for the report (see the module docstring)."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        self.keys = dict(keys)
        self.since, self.until = since, until
        self._chains: dict[int, _PartitionChain] = {}
        self._started: set[int] = set()
        self._ended: set[int] = set()

    def feed(self, partition: int, offset: int, value: bytes | None) -> dict[str, Any] | None:
        """Takes one record; returns its event when it parses (replay reuses it), else None."""
        parsed = parse_event(value)
        event = parsed if isinstance(parsed, dict) else None
        if self._in_window(partition, event):
            chain = self._chains.get(partition)
            if chain is None:
                chain = self._chains[partition] = _PartitionChain(partition, self.keys, from_start=self.since is None)
            chain.push(offset, parsed)
        return event

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
        partitions = tuple(self._chains[p].finish() for p in sorted(self._chains))
        self._chains.clear()
        return ChainReport(partitions, self.since, self.until)


def verify_records(
    records: Iterable[tuple[int, int, bytes | None]],
    keys: Mapping[str, bytes],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ChainReport:
    """Verifies `(partition, offset, value)` records (offset order per partition) against the checkpoint keys."""
    verifier = ChainVerifier(keys, since=since, until=until)
    for partition, offset, value in records:
        verifier.feed(partition, offset, value)
    return verifier.report()
