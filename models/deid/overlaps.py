"""Resolution of overlapping detections into one non-overlapping set of spans per text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

# Tie-break for spans of equal strength: the more specific structure wins (an 18-digit number that is
# both a valid resident ID and Luhn-valid is an ID).
_SPECIFICITY = (
    "CN_RESIDENT_ID",
    "CN_USCC",
    "BANK_CARD",
    "CN_MOBILE",
    "EMAIL_ADDRESS",
    "IP_ADDRESS",
    "PERSON",
    "ADDRESS",
    "ORGANIZATION",
    "LOCATION",
    "PLACE",
)
_RANK = {entity_type: len(_SPECIFICITY) - index for index, entity_type in enumerate(_SPECIFICITY)}


@dataclass(frozen=True)
class Detection:
    """One detected span. ``from_pattern`` marks the pattern/checksum recognizers (vs NER);
    ``partial`` marks a span trimmed around a stronger one, so its value is not a whole identifier."""

    entity_type: str
    start: int
    end: int
    score: float
    from_pattern: bool
    partial: bool = False


def _strength(detection: Detection) -> tuple[bool, float, int, float, int, int]:
    # Pattern recognizers beat NER; among them a checksum-validated hit (score 1.0) beats an
    # unvalidated one; then longer beats shorter, then score, then specificity; the earliest start
    # last, so the order is total and results are deterministic.
    return (
        detection.from_pattern,
        detection.score if detection.from_pattern else 0.0,
        detection.end - detection.start,
        detection.score,
        _RANK.get(detection.entity_type, 0),
        -detection.start,
    )


def _uncovered(start: int, end: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [(start, end)]
    for taken_start, taken_end in taken:
        next_pieces: list[tuple[int, int]] = []
        for piece_start, piece_end in pieces:
            if taken_end <= piece_start or piece_end <= taken_start:
                next_pieces.append((piece_start, piece_end))
                continue
            if piece_start < taken_start:
                next_pieces.append((piece_start, taken_start))
            if taken_end < piece_end:
                next_pieces.append((taken_end, piece_end))
        pieces = next_pieces
    return pieces


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink a piece to its first/last alphanumeric character (CJK counts); None if it has none."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return (start, end) if start < end else None


def resolve_overlaps(text: str, detections: Iterable[Detection]) -> list[Detection]:
    """Keep the strongest detection wherever spans overlap, sorted by start.

    A weaker detection that only partly overlaps a stronger one is not dropped but cut down to the
    parts outside it: dropping it would leave the rest of, say, a name in the clear.
    """
    taken: list[tuple[int, int]] = []
    kept: list[Detection] = []
    for detection in sorted(detections, key=_strength, reverse=True):
        if detection.start >= detection.end:
            continue
        pieces = _uncovered(detection.start, detection.end, taken)
        if pieces == [(detection.start, detection.end)]:
            kept.append(detection)
            taken.append((detection.start, detection.end))
            continue
        for piece_start, piece_end in pieces:
            trimmed = _trim(text, piece_start, piece_end)
            if trimmed is not None:
                kept.append(replace(detection, start=trimmed[0], end=trimmed[1], partial=True))
                taken.append(trimmed)
    return sorted(kept, key=lambda detection: (detection.start, detection.end))
