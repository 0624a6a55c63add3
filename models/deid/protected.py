"""Protected identifiers: document numbers, SKUs and trace ids that NER must leave verbatim (they are not PII).

A user searches by order number, so `SO-46342748` has to survive de-identification even when the English model
reads it as an organisation or jiagu's neighbour as a person. The engine cuts these spans out of every NER
detection. They never touch a pattern/checksum detection: a "document number" whose digits are a valid resident
ID, a Luhn card or a mobile number is still found and replaced by those recognizers (see engine.py).

Built-in shapes are Sluice's own reviewed patterns; rule packs add their own (`protected_identifiers`, compiled
on RE2 because packs are untrusted). Whatever a pattern matches is honoured only if it is identifier-shaped: one
token holding a digit, at most 80 characters. So no pack pattern, however broad, can shield a name from NER.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

__all__ = ["BUILTIN_PATTERNS", "MatchSpan", "SpanPattern", "is_identifier_shaped", "protected_spans"]

MAX_IDENTIFIER_CHARS = 80

# ASCII letters, digits and joiners around an identifier make it part of a longer token; a Chinese character
# does not (订单SO-46342748 is a word and a number).
_BEFORE = r"(?<![A-Za-z0-9_\-./])"
_AFTER = r"(?![A-Za-z0-9_\-]|[./][A-Za-z0-9])"
_PIECE = r"[A-Z0-9]+"
BUILTIN_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Document numbers and SKUs: upper-case prefix, a digit somewhere, pieces joined by - _ / .
    # (SO-46342748, INV32954502, PO-2026-004411, SKU-4821, RT-3863-XL, C-00012).
    # Separators are required between pieces: an optional one would let the pieces split a run of letters in
    # exponentially many ways before a failing look-ahead.
    re.compile(_BEFORE + r"[A-Z][A-Z0-9]*(?:[-_/.]" + _PIECE + r")*" + _AFTER),
    # UUIDs in any case, and hex ids of 16 or more digits (trace and span ids, hashes).
    re.compile(_BEFORE + r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}" + _AFTER),
    re.compile(_BEFORE + r"[0-9A-Fa-f]{16,}" + _AFTER),
)
_SPACE = re.compile(r"\s")
_MIN_IDENTIFIER_CHARS = 4


class MatchSpan(Protocol):
    def span(self) -> tuple[int, int]: ...


class SpanPattern(Protocol):
    """A compiled pattern as used here: Python's re.Pattern and a pack's RE2 pattern both are one."""

    def finditer(self, text: str, /) -> Iterator[MatchSpan]: ...


def is_identifier_shaped(value: str) -> bool:
    """One token, 4-80 characters, holding at least one digit: what a protected match must be to count."""
    return (
        _MIN_IDENTIFIER_CHARS <= len(value) <= MAX_IDENTIFIER_CHARS
        and any(char.isdigit() for char in value)
        and _SPACE.search(value) is None
    )


def protected_spans(text: str, extra: Iterable[SpanPattern] = ()) -> list[tuple[int, int]]:
    """The identifier-shaped spans of ``text`` that the built-in and the ``extra`` patterns match, merged, sorted."""
    found: list[tuple[int, int]] = []
    patterns: Sequence[SpanPattern] = (*BUILTIN_PATTERNS, *extra)
    for pattern in patterns:
        for match in pattern.finditer(text):
            start, end = match.span()
            if is_identifier_shaped(text[start:end]):
                found.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
