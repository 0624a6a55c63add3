"""Which part of a rendered prompt each character and token came from: a retrieved record, history, the user, …"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

SegmentKind = Literal["record", "system", "history", "user", "template"]
Span = tuple[int, int]


class RecordText(Protocol):
    """A retrieved record as the prompt showed it (schemas.inference.KeptRecord and dialog's RetrievedRecord fit)."""

    @property
    def record_id(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Segment:
    """A part of the prompt: its kind, a label for people, and the character spans of the prompt it covers.

    `record`: one retrieved record (its `[id]` label and text inside the system message); `system`: the rest of the
    system message (Sluice's prompt template); `history`: earlier turns; `user`: the request's own message;
    `template`: everything else, the model's chat markup (role tags, a default system prompt it adds).
    A record the prompt does not show (budgeted out, changed) has no spans.
    """

    kind: SegmentKind
    label: str
    spans: tuple[Span, ...]
    record_id: str | None = None

    @property
    def chars(self) -> int:
        return sum(end - start for start, end in self.spans)


def prompt_segments(
    prompt: str, messages: Sequence[Mapping[str, str]], records: Sequence[RecordText]
) -> tuple[Segment, ...]:
    """The segments of `prompt`: one per record (in retrieval order), then system, history, user and template.

    Every character of the prompt belongs to exactly one segment. Messages are found in order, each after the last
    (the chat template writes them in order and verbatim; a template that trims them is matched on the trimmed
    text); a message that cannot be found is counted as template text rather than guessed at.
    """
    spans_of: dict[str, list[Span]] = {"system": [], "history": [], "user": []}
    record_spans: list[list[Span]] = [[] for _ in records]
    cursor = 0
    last = len(messages) - 1
    for index, message in enumerate(messages):
        found = _find(prompt, message["content"], cursor)
        if found is None:
            continue
        cursor = found[1]
        role = message["role"]
        if role == "system":
            inside = _records_within(prompt, found, records)
            for number, span in inside.items():
                record_spans[number].append(span)
            spans_of["system"].extend(_minus(found, sorted(inside.values())))
        elif role == "user" and index == last:
            spans_of["user"].append(found)
        else:
            spans_of["history"].append(found)
    segments = [
        Segment("record", f"record {record.record_id}", tuple(spans), record.record_id)
        for record, spans in zip(records, record_spans, strict=True)
    ]
    segments.append(Segment("system", "system prompt", tuple(spans_of["system"])))
    segments.append(Segment("history", "history", tuple(spans_of["history"])))
    segments.append(Segment("user", "user message", tuple(spans_of["user"])))
    covered = sorted(span for segment in segments for span in segment.spans)
    segments.append(Segment("template", "template", tuple(_minus((0, len(prompt)), covered))))
    return tuple(segments)


def token_segments(offsets: Sequence[Span], segments: Sequence[Segment], prompt_chars: int) -> list[int]:
    """The index of the segment each token belongs to: the one holding most of its characters.

    Byte-level tokens often straddle a boundary (" Paris" = a template space + record text); a tie goes to the
    segment listed first, so content (records, system, history, user) wins over template markup.
    """
    template = next((i for i, s in enumerate(segments) if s.kind == "template"), len(segments) - 1)
    owner = np.full(max(prompt_chars, 1), template, dtype=np.int64)
    for number, segment in enumerate(segments):
        for start, end in segment.spans:
            owner[start:end] = number
    result: list[int] = []
    for start, end in offsets:
        if end <= start:  # a token with no characters of its own (rare): the segment at its position
            result.append(int(owner[min(start, len(owner) - 1)]))
            continue
        counts = np.bincount(owner[start:end], minlength=len(segments))
        result.append(int(np.argmax(counts)))
    return result


def _find(prompt: str, content: str, cursor: int) -> Span | None:
    for candidate in (content, content.strip()):
        if candidate:
            start = prompt.find(candidate, cursor)
            if start >= 0:
                return start, start + len(candidate)
    return None


def _records_within(prompt: str, system: Span, records: Sequence[RecordText]) -> dict[int, Span]:
    """Each record's span inside the system message: its text, and the `[record_id]` label right before it."""
    found: dict[int, Span] = {}
    cursor, end = system
    for number, record in enumerate(records):
        text = record.text.strip()
        start = prompt.find(text, cursor, end) if text else -1
        if start < 0:
            continue
        label = f"[{record.record_id}]"
        before = prompt[cursor:start].rstrip()
        # The label is part of what the model reads as "this record" (and what it is asked to cite).
        first = cursor + len(before) - len(label) if before.endswith(label) else start
        found[number] = (first, start + len(text))
        cursor = start + len(text)
    return found


def _minus(whole: Span, holes: Sequence[Span]) -> list[Span]:
    """The parts of `whole` outside the sorted, non-overlapping `holes`."""
    parts: list[Span] = []
    position, end = whole
    for start, stop in holes:
        if start > position:
            parts.append((position, min(start, end)))
        position = max(position, stop)
    if position < end:
        parts.append((position, end))
    return [(a, b) for a, b in parts if b > a]
