"""What `sluice audit verify` found, as data (JSON) and as the operator's text verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ProblemKind = Literal["unparseable", "modified", "deleted", "inserted", "reordered", "broken_link", "bad_checkpoint"]
PROBLEM_KINDS: tuple[ProblemKind, ...] = (
    "unparseable",
    "modified",
    "deleted",
    "inserted",
    "reordered",
    "broken_link",
    "bad_checkpoint",
)

TAIL_NOTE = (
    "hashes cannot reveal events removed from the end of a partition; events after the last valid checkpoint "
    "are not authenticated (anyone who can write the topic could have appended them)"
)
ANCHOR_NOTE = (
    "verification starts mid-stream: the first event of each window is its anchor, its prev_hash is not checked"
)


@dataclass(frozen=True)
class Problem:
    """One finding: where (partition, offset), what kind, a sentence, and every offset involved."""

    partition: int
    offset: int
    kind: ProblemKind
    detail: str
    offsets: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "kind": self.kind,
            "detail": self.detail,
            "offsets": list(self.offsets or (self.offset,)),
        }


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
    problems: list[Problem] = field(default_factory=list)

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
            "checkpoints_verified": self.checkpoints_verified,
            "unauthenticated_tail": self.unauthenticated_tail,
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass(frozen=True)
class ChainReport:
    """The verdict on every partition read; intact only when no partition has a problem."""

    partitions: tuple[PartitionReport, ...]
    since: datetime | None = None
    until: datetime | None = None

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
            lines.append(f"  offset {problem.offset}: {problem.kind}: {problem.detail}")
    if report.since:
        lines.append(f"note: {ANCHOR_NOTE}")
    lines.append(f"note: {TAIL_NOTE}")
    return lines
