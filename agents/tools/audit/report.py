"""What `sluice audit verify` found, as data (JSON) and as the operator's text verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

ProblemKind = Literal[
    "unparseable",
    "modified",
    "deleted",
    "inserted",
    "reordered",
    "broken_link",
    "bad_checkpoint",
    "rejected",
    "rewritten",
    "truncated",
    "no_valid_checkpoint",
    "unauthenticated_tail",
]
PROBLEM_KINDS: tuple[ProblemKind, ...] = get_args(ProblemKind)  # in the order problems are sorted
# Findings that do not make a chain fail: a legacy HMAC checkpoint nobody here holds the key of.
NoticeKind = Literal["unverifiable_checkpoint"]

TAIL_NOTE = (
    "events after the last valid checkpoint are not authenticated (anyone who can write the topic could have "
    "appended them), and events removed from the end of a partition are visible only against a signed head "
    "recorded earlier (--expect-heads)"
)
ANCHOR_NOTE = (
    "verification starts mid-stream: the first event of each window is its anchor, its prev_hash is not checked"
)


@dataclass(frozen=True)
class Flagged:
    """The event a finding is about, named by its place and kind, never by its content."""

    seq: int | None = None
    event_type: str | None = None
    tenant: str | None = None

    @classmethod
    def of(cls, event: Mapping[str, Any] | None) -> Flagged:
        if event is None:
            return cls()
        seq = event.get("seq")
        return cls(seq if type(seq) is int else None, _short(event.get("event_type")), _short(event.get("tenant")))

    def describe(self) -> str:
        parts = [f"seq {self.seq}" if self.seq is not None else "no seq"]
        if self.event_type is not None:
            parts.append(self.event_type)
        if self.tenant is not None:
            parts.append(f"tenant {self.tenant}")
        return ", ".join(parts)


def _short(value: Any) -> str | None:
    # Types and tenants are identifiers; a forged event could put anything there, so only a short string is shown.
    return value[:64] if isinstance(value, str) else None


@dataclass(frozen=True)
class Problem:
    """One finding: where (partition, offset), what kind, a sentence, every offset involved, the event flagged."""

    partition: int
    offset: int | None
    kind: ProblemKind | NoticeKind
    detail: str
    offsets: tuple[int, ...] = ()
    event: Flagged = field(default_factory=Flagged)

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "seq": self.event.seq,
            "event_type": self.event.event_type,
            "tenant": self.event.tenant,
            "kind": self.kind,
            "detail": self.detail,
            "offsets": list(self.offsets or (() if self.offset is None else (self.offset,))),
        }

    def where(self) -> str:
        at = f"offset {self.offset}" if self.offset is not None else "no offset"
        return f"{at} ({self.event.describe()})"


@dataclass
class PartitionReport:
    """The verdict on one partition's chain (within the window, when one was given)."""

    partition: int
    anchor: Literal["genesis", "window"]
    events: int = 0
    first_offset: int | None = None
    last_offset: int | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints_verified: int = 0
    unauthenticated_tail: int = 0
    low_watermark: int | None = None
    end_offset: int | None = None
    signed_head: dict[str, Any] | None = None  # the last verified signed tree head, verbatim (--expect-heads)
    signed_head_checkpoint: dict[str, int] | None = None  # offset and seq of the checkpoint event carrying it
    problems: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "intact": self.intact,
            "anchor": self.anchor,
            "events": self.events,
            "first_offset": self.first_offset,
            "last_offset": self.last_offset,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "low_watermark": self.low_watermark,
            "end_offset": self.end_offset,
            "checkpoints_verified": self.checkpoints_verified,
            "unauthenticated_tail": self.unauthenticated_tail,
            "signed_head": self.signed_head,
            "signed_head_checkpoint": self.signed_head_checkpoint,
            "problems": [p.to_json() for p in self.problems],
            "notices": [n.to_json() for n in self.notices],
        }


@dataclass(frozen=True)
class ChainReport:
    """The verdict on every partition read; intact only when no partition has a problem."""

    partitions: tuple[PartitionReport, ...]
    since: datetime | None = None
    until: datetime | None = None
    keys: str = ""  # which public keys verified the checkpoints, said with the verdict

    @property
    def intact(self) -> bool:
        return all(p.intact for p in self.partitions)

    @property
    def problems(self) -> list[Problem]:
        return [problem for p in self.partitions for problem in p.problems]

    def to_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "keys": self.keys,
            "partitions": [p.to_json() for p in self.partitions],
            "notes": [TAIL_NOTE, *([ANCHOR_NOTE] if self.since else [])],
        }


def _span(first: int | None, last: int | None) -> str:
    return "none" if first is None or last is None else f"{first}–{last}"


def render_text(report: ChainReport, topic: str) -> list[str]:
    """The human verdict: one line per partition, one per problem, and what verification cannot see."""
    problems = report.problems
    verdict = "INTACT" if report.intact else f"{len(problems)} PROBLEM{'S' if len(problems) != 1 else ''} FOUND"
    window = ""
    if report.since or report.until:
        window = f" (emitted {report.since.isoformat() if report.since else '…'} – "
        window += f"{report.until.isoformat() if report.until else '…'})"
    lines = [f"{topic}{window}: {verdict}, {len(report.partitions)} partition(s) with events"]
    for p in report.partitions:
        state = "intact" if p.intact else f"{len(p.problems)} problem(s)"
        lines.append(
            f"partition {p.partition}: {state}: {p.events} events, offsets {_span(p.first_offset, p.last_offset)}, "
            f"seq {_span(p.first_seq, p.last_seq)}, {p.checkpoints_verified} checkpoint(s) verified, "
            f"{p.unauthenticated_tail} event(s) after the last valid checkpoint (unauthenticated)"
        )
        for problem in p.problems:
            lines.append(f"  {problem.where()}: {problem.kind}: {problem.detail}")
        for notice in p.notices:
            lines.append(f"  {notice.where()}: note: {notice.kind}: {notice.detail}")
    if report.keys:
        lines.append(f"checkpoints checked with {report.keys}")
    if report.since:
        lines.append(f"note: {ANCHOR_NOTE}")
    lines.append(f"note: {TAIL_NOTE}")
    return lines
