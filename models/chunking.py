"""Split long texts into overlapping, sentence-aligned chunks small enough to embed as one vector."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

# Chinese terminators end a sentence wherever they appear; ASCII ones only before whitespace or the end,
# so that "3.14", "v1.2" or "example.com" are not cut in half.
_CJK_TERMINATORS = frozenset("。！？")
_ASCII_TERMINATORS = frozenset(".!?")
# Closing quotes and brackets belong to the sentence they close: 他说：“好。”下一句
_CLOSERS = frozenset("\"'”’」』)）]】》")
_TERMINATORS = _CJK_TERMINATORS | _ASCII_TERMINATORS


def sentence_boundaries(text: str) -> list[int]:
    """Positions (exclusive ends) where a sentence ends, in increasing order; the last is len(text)."""
    n = len(text)
    ends: list[int] = []
    i = 0
    while i < n:
        ch = text[i]
        if ch == "\n":
            ends.append(i + 1)
            i += 1
            continue
        if ch in _TERMINATORS:
            j = i + 1
            # "?!", "……" and "。”" end one sentence, not several.
            while j < n and (text[j] in _TERMINATORS or text[j] in _CLOSERS):
                j += 1
            ascii_only = all(c in _ASCII_TERMINATORS or c in _CLOSERS for c in text[i:j])
            if ascii_only and j < n and not text[j].isspace():
                i = j
                continue
            # Trailing spaces stay with the sentence they follow, so the next one starts on a word;
            # a newline is its own boundary.
            while j < n and text[j].isspace() and text[j] != "\n":
                j += 1
            ends.append(j)
            i = j
            continue
        i += 1
    if not ends or ends[-1] != n:
        ends.append(n)
    return ends


def chunk_text(text: str, *, max_chars: int, overlap_chars: int) -> list[str]:
    """Split text into chunks of at most max_chars characters.

    Chunks end on sentence boundaries (。！？.!? and newlines); a sentence longer than max_chars is cut
    hard, at a space when there is one. Neighbouring chunks share up to overlap_chars characters: whole
    trailing sentences of the previous chunk when they fit, else (inside a cut sentence) characters.
    Every chunk is a slice of text, so the result is deterministic and loses nothing.
    """
    spans = chunk_spans(text, max_chars=max_chars, overlap_chars=overlap_chars)
    return [text[start:end] for start, end in spans]


def chunk_spans(text: str, *, max_chars: int, overlap_chars: int) -> list[tuple[int, int]]:
    """The (start, end) character offsets of chunk_text's chunks."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if not 0 <= overlap_chars < max_chars:
        raise ValueError(f"overlap_chars must be in [0, {max_chars}) (below max_chars), got {overlap_chars}")
    n = len(text)
    if n == 0:
        return []
    if n <= max_chars:
        return [(0, n)]

    bounds = sentence_boundaries(text)
    spans: list[tuple[int, int]] = []
    start = 0
    prev_end = 0
    while n - start > max_chars:
        limit = start + max_chars
        # The chunk must reach past the previous one, or the loop would emit a sub-slice of it forever.
        floor = max(start, prev_end)
        lo = bisect_right(bounds, floor)
        hi = bisect_right(bounds, limit)
        hard_cut = hi <= lo
        if not hard_cut:
            end = bounds[hi - 1]
        elif start < prev_end and bisect_right(bounds, prev_end + max_chars) > lo:
            # The overlap leaves no room for the next whole sentence: drop the overlap, keep the sentence.
            start = prev_end
            continue
        else:
            end = _hard_cut(text, start, floor, limit)
        spans.append((start, end))
        prev_end = end
        start = _next_start(text, bounds, start, end, overlap_chars, hard_cut=hard_cut)
    spans.append((start, n))
    return spans


def _hard_cut(text: str, start: int, floor: int, limit: int) -> int:
    """Where to cut a sentence that does not fit: after the last space in the second half, else at limit."""
    # Cutting at a space keeps English words whole; Chinese has no spaces and is cut at the limit. Spaces
    # in the first half are ignored so a cut never yields a chunk of mostly overlap.
    lowest = max(floor, start + (limit - start) // 2)
    for pos in range(limit, lowest, -1):
        if text[pos - 1].isspace():
            return pos
    return limit


def _next_start(text: str, bounds: list[int], start: int, end: int, overlap_chars: int, *, hard_cut: bool) -> int:
    """Where the chunk after text[start:end] begins, so that the two share at most overlap_chars."""
    if overlap_chars == 0:
        return end
    window_lo = max(end - overlap_chars, start + 1)
    i = bisect_left(bounds, window_lo)
    if i < len(bounds) and bounds[i] < end:
        return bounds[i]
    if not hard_cut:
        return end
    # Inside a cut sentence the overlap is by characters, moved forward to a word start when one is near.
    for pos in range(window_lo, end):
        if text[pos - 1].isspace():
            return pos
    return window_lo
