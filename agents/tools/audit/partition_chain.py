"""One partition's chain, walked event by event: links, gaps, moved and repeated events, checkpoints and signed
heads, and where the chain must end (see agents/tools/audit/verify.py for the rules and the problem kinds).

It is one state machine over one partition's records, processing one record behind reading so that each event can
see the next; its checks share the resynchronisation state (expected seq, events set aside, gaps, the Merkle
frontier), which is why it stays in one class of about 500 lines rather than being cut into modules that would
each need all of that state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.audit_chain.chain import GENESIS
from agents.audit_chain.checkpoints import SignedHead, verify_checkpoint
from agents.audit_chain.merkle import MerkleError, MerkleFrontier, event_leaf
from agents.core.audit_keys import CheckpointKeys
from agents.tools.audit.entries import Entry, entry_of, usable
from agents.tools.audit.report import (
    PROBLEM_KINDS,
    Flagged,
    NoticeKind,
    PartitionReport,
    Problem,
    ProblemKind,
)


@dataclass(frozen=True)
class Bounds:
    """A partition's watermarks when it was read: its first offset (log start) and the offset after its last."""

    low: int
    end: int


@dataclass(frozen=True)
class Rules:
    """What a partition is held to beyond its links: the topic read, the tail bound, heads recorded earlier."""

    topic: str
    max_unauthenticated: int | None = None
    reaches_end: bool = True
    bounds: Bounds | None = None
    expected: SignedHead | None = None


@dataclass
class _Gap:
    """Seqs first..last are missing before the event at `offset`; becomes `deleted` unless they turn up later."""

    first: int
    last: int
    offset: int
    flagged: Flagged = field(default_factory=Flagged)


def _seqs(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seqs {first}..{last}"


class PartitionChain:
    """Follows one partition's chain. Processing runs one record behind reading, so each event can see the next."""

    def __init__(self, partition: int, keys: CheckpointKeys, rules: Rules, *, from_start: bool) -> None:
        self.partition = partition
        self.keys = keys
        self.rules = rules
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
        # The Merkle tree of seqs 0.. as read; None once out of step (a problem, a window): the next verified signed
        # head's frontier takes its place.
        self.tree: MerkleFrontier | None = MerkleFrontier() if from_start else None
        self.signed_heads = 0
        self.signed_low_watermark: int | None = None  # the lowest any verified signed head of this topic recorded
        self.tail: dict[int, tuple[int, Flagged]] = {}  # seq -> (offset, event) of events since the last valid head
        self.reported_rejected: set[int] = set()
        self.first: tuple[int, Flagged] | None = None
        self.newest: Entry | None = None
        self.last_advanced: Flagged = Flagged()
        self.tail_start: tuple[int, Flagged] | None = None
        self.want_tail_start_ordinal: int | None = None

    # -- input ----------------------------------------------------------------------------------------------------
    def push(self, offset: int, parsed: dict[str, Any] | str) -> None:
        report = self.report
        entry = entry_of(offset, report.events, parsed)
        report.events += 1
        if report.first_offset is None:
            report.first_offset = offset
            self.first = (offset, Flagged.of(entry.event))
        report.last_offset = offset
        self.newest = entry
        if self.want_tail_start_ordinal == entry.ordinal:
            self.tail_start, self.want_tail_start_ordinal = (offset, Flagged.of(entry.event)), None
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
                    entry.offset,
                    "inserted",
                    f"seq {entry.seq} does not fit anywhere in the chain",
                    (entry.offset,),
                    entry,
                )
        self.aside.clear()
        for gap in self.gaps:
            self._problem(
                gap.offset,
                "deleted",
                f"{_seqs(gap.first, gap.last)} missing before offset {gap.offset}",
                (gap.offset,),
                gap.flagged,
            )
        report = self.report
        report.unauthenticated_tail = report.events - 1 - self.last_checkpoint_ordinal
        self._check_authenticated()
        self._check_bounds()
        self._check_expected()
        rank: dict[str, int] = {kind: index for index, kind in enumerate(PROBLEM_KINDS)}
        report.problems.sort(key=lambda p: (-1 if p.offset is None else p.offset, rank.get(p.kind, len(rank))))
        return report

    def _check_authenticated(self) -> None:
        report, rules = self.report, self.rules
        if not rules.reaches_end or report.events == 0:
            return
        if report.checkpoints_verified == 0:
            offset, flagged = self.first or (None, Flagged())
            self._problem(
                offset,
                "no_valid_checkpoint",
                f"no checkpoint of this partition verified: none of its {report.events} event(s) is authenticated",
                (),
                flagged,
            )
        elif rules.max_unauthenticated is not None and report.unauthenticated_tail > rules.max_unauthenticated:
            newest = self.newest
            offset, flagged = self.tail_start or (
                (newest.offset, Flagged.of(newest.event)) if newest is not None else (None, Flagged())
            )
            self._problem(
                offset,
                "unauthenticated_tail",
                f"{report.unauthenticated_tail} event(s) after the last valid checkpoint, more than the "
                f"{rules.max_unauthenticated} allowed: none of them is authenticated (appended by anyone who can write "
                "the topic, or the chainer has stopped checkpointing)",
                (),
                flagged,
            )

    def _check_bounds(self) -> None:
        bounds = self.rules.bounds
        if bounds is None:
            return
        report = self.report
        report.low_watermark, report.end_offset = bounds.low, bounds.end
        signed = self.signed_low_watermark
        if signed is not None and bounds.low > signed:
            offset, flagged = self.first or (None, Flagged())
            self._problem(
                offset,
                "truncated",
                f"the partition's log starts at offset {bounds.low}, but a signed tree head recorded it starting at "
                f"{signed}: records at offsets {signed}..{bounds.low - 1} were deleted",
                (),
                flagged,
            )
        elif report.events == 0 and bounds.low > 0:
            self._problem(
                None,
                "truncated",
                f"no records are left, and the log starts at offset {bounds.low}: every record before it was deleted",
                (),
                Flagged(),
            )

    def _check_expected(self) -> None:
        expected = self.rules.expected
        if expected is None:
            return
        report, newest = self.report, self.newest
        offset, flagged = (newest.offset, Flagged.of(newest.event)) if newest is not None else (None, Flagged())
        covered_to = expected.tree_size  # the seq of the checkpoint that signed it
        ends_early = report.last_seq is None or report.last_seq < covered_to
        if ends_early and self.rules.reaches_end:  # with --until the window may end before it by design
            ends = "no events" if report.last_seq is None else f"seq {report.last_seq}"
            self._problem(
                offset,
                "truncated",
                f"a head signed earlier (tree size {expected.tree_size}, key {expected.key_id}, signed "
                f"{expected.signed_at}) covers the chain to seq {covered_to - 1}, its checkpoint is seq {covered_to}; "
                f"the chain now ends at {ends}: events were removed from the end",
                (),
                flagged,
            )
            return
        known = self.hashes.get(expected.head_seq)
        if known is not None and known != expected.head_hash:
            at = self.where.get(expected.head_seq)
            self._problem(
                at,
                "rewritten",
                f"a head signed earlier (tree size {expected.tree_size}) says seq {expected.head_seq} has hash "
                f"{expected.head_hash[:16]}…, the event there now has {known[:16]}…: the chain was rewritten",
                (),
                Flagged(expected.head_seq),
            )

    # -- classification -------------------------------------------------------------------------------------------
    def _process(self, entry: Entry, peek: Entry | None) -> None:
        if entry.event is None:
            self._problem(entry.offset, "unparseable", f"not a chain event: {entry.reason}", (entry.offset,), entry)
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
            entry,
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
                entry,
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
        offsets = (*((before,) if before is not None else ()), entry.offset)
        self._problem(entry.offset, "broken_link", detail, offsets, entry)
        self.claimed[seq - 1] = entry.prev
        self._advance(entry)

    def _ahead(self, entry: Entry, peek: Entry | None, expected: int) -> None:
        seq = entry.seq
        last = self.last_hash
        if usable(peek) and peek.seq == expected and (last is None or peek.prev == last) and seq not in self.aside:
            # The next event continues the chain from here: this one came early (moved) or does not belong.
            self.aside[seq] = entry
            return
        self.gaps.append(_Gap(expected, seq - 1, entry.offset, Flagged.of(entry.event)))
        self.claimed[seq - 1] = entry.prev
        self._advance(entry)

    def _behind(self, entry: Entry, peek: Entry | None) -> None:
        seq = entry.seq
        first = self.where.get(seq)
        if first is not None:
            if entry.hash == self.hashes[seq]:
                detail = f"seq {seq} again, an exact copy of offset {first}"
                self._problem(entry.offset, "inserted", detail, (first, entry.offset), entry)
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
                    self.last_advanced,  # the event at `first` holds seq next_seq - 1: the last one advanced to
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
                entry,
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
                entry,
            )
            return
        self._problem(
            entry.offset,
            "inserted",
            f"seq {seq} is missing from the chain but does not link there",
            (entry.offset,),
            entry,
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
                early,
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
                entry,
            )
            rest = [_Gap(gap.first, seq - 1, gap.offset, gap.flagged), _Gap(seq + 1, gap.last, gap.offset, gap.flagged)]
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
        self.last_advanced = Flagged.of(entry.event)
        self.tail[seq] = (entry.offset, self.last_advanced)
        if checkpoint:
            self._check_checkpoint(entry)
        self._grow_tree(seq, entry.hash)

    def _grow_tree(self, seq: int, hash_hex: str) -> None:
        tree = self.tree
        if tree is None:
            return
        if tree.size != seq:
            self.tree = None  # out of step (a gap, a move): the next verified signed head resynchronises it
            return
        try:
            tree.append(event_leaf(hash_hex))
        except MerkleError:
            self.tree = None

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
            self._problem(entry.offset, "bad_checkpoint", "checkpoint without details", (entry.offset,), entry)
            return
        verdict = verify_checkpoint(details, self.partition, self.keys)
        if verdict.status == "unverifiable":
            self._notice(entry, "unverifiable_checkpoint", verdict.reason)
            return
        if not verdict.valid:
            self._problem(entry.offset, "bad_checkpoint", verdict.reason, (entry.offset,), entry)
            return
        if verdict.legacy and self.signed_heads:
            self._problem(
                entry.offset,
                "bad_checkpoint",
                "a legacy HMAC checkpoint after a signed tree head: anyone holding the HMAC key could have made it",
                (entry.offset,),
                entry,
            )
            return
        head_seq, head_hash = int(details["head_seq"]), str(details["head_hash"])
        if head_seq >= entry.seq:
            self._problem(
                entry.offset,
                "bad_checkpoint",
                f"checkpoint (seq {entry.seq}) claims a head seq {head_seq} that does not precede it",
                (entry.offset,),
                entry,
            )
            return
        known = self.hashes.get(head_seq)
        if known is not None and known != head_hash and self.claimed.get(head_seq) != head_hash:
            at = self.where[head_seq]
            self._problem(
                entry.offset,
                "bad_checkpoint",
                f"checkpoint (valid, key {details['key_id']}) authenticates a different hash for seq {head_seq} "
                f"than the event at offset {at}: the chain up to it was rewritten",
                (at, entry.offset),
                entry,
            )
            return
        if verdict.head is not None and not self._signed_head(entry, verdict.head, details):
            return
        # Valid, and a head that matches (or lies before the window, or in a gap already reported).
        self.report.checkpoints_verified += 1
        if entry.ordinal > self.last_checkpoint_ordinal:
            self.last_checkpoint_ordinal = entry.ordinal
            newest = self.newest
            if newest is not None and newest.ordinal == entry.ordinal + 1:
                self.tail_start = (newest.offset, Flagged.of(newest.event))
            else:
                self.tail_start, self.want_tail_start_ordinal = None, entry.ordinal + 1
        self.tail.clear()

    def _signed_head(self, entry: Entry, head: SignedHead, details: Mapping[str, Any]) -> bool:
        """The checks only a signed tree head allows: its Merkle root, what it rejected, the log start it saw."""
        tree = self.tree
        if tree is not None and tree.size == head.tree_size:
            if tree.root().hex() != head.root_hash:
                self._problem(
                    entry.offset,
                    "bad_checkpoint",
                    f"signed tree head (key {head.key_id}) has a Merkle root that is not the root of seqs "
                    f"0..{head.head_seq} as read: events before it were rewritten",
                    (entry.offset,),
                    entry,
                )
                return False
        else:  # out of step, or a window: its frontier (folds to the signed root) stands in for what came before
            self.tree = head.frontier.copy()
        for first, last in head.rejected:
            for seq in range(first, last + 1):
                if seq in self.reported_rejected or seq not in self.tail:
                    continue
                self.reported_rejected.add(seq)
                offset, flagged = self.tail[seq]
                self._problem(
                    offset,
                    "rejected",
                    f"the chainer found this event after its last checkpoint and did not write it; the signed tree "
                    f"head at offset {entry.offset} records seq {seq} as rejected",
                    (offset, entry.offset),
                    flagged,
                    keep_tree=True,
                )
        self.signed_heads += 1
        if head.topic == self.rules.topic:
            low = head.low_watermark
            self.signed_low_watermark = (
                low if self.signed_low_watermark is None else min(self.signed_low_watermark, low)
            )
        # Verbatim: it is what the signature covers, so that --expect-heads can check it again later.
        self.report.signed_head = dict(details)
        self.report.signed_head_checkpoint = {"offset": entry.offset, "seq": entry.seq}
        return True

    def _notice(self, entry: Entry, kind: NoticeKind, detail: str) -> None:
        self.report.notices.append(
            Problem(self.partition, entry.offset, kind, detail, (entry.offset,), Flagged.of(entry.event))
        )

    def _problem(
        self,
        offset: int | None,
        kind: ProblemKind,
        detail: str,
        offsets: tuple[int, ...],
        about: Entry | Flagged,
        *,
        keep_tree: bool = False,
    ) -> None:
        flagged = about if isinstance(about, Flagged) else Flagged.of(about.event)
        self.report.problems.append(Problem(self.partition, offset, kind, detail, offsets, flagged))
        if not keep_tree:
            self.tree = None  # the hashes around a problem are in doubt: roots are checked again from the next head
