"""Split long texts into overlapping, sentence-aligned chunks small enough to embed as one vector."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

# Chinese terminators end a sentence wherever they appear; ASCII ones only before whitespace or the end,
# so that "3.14", "v1.2" or "example.com" are not cut in half.
_CJK_TERMINATORS = frozenset("。！？")
_ASCII_TERMINATORS = frozenset(".!?")
# Closing quotes and brackets belong to the sentence they close: 他说：“好。”下一句
_CLOSERS = frozenset("\"'”’」』)）]】》")


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
        if ch in _CJK_TERMINATORS or ch in _ASCII_TERMINATORS:
            j = i + 1
            # "?!", "……" and "。”" end one sentence, not several.
            while j < n and (text[j] in _CJK_TERMINATORS or text[j] in _ASCII_TERMINATORS or text[j] in _CLOSERS):
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
    hard. Neighbouring chunks share up to overlap_chars characters: whole trailing sentences of the
    previous chunk when they fit, else (inside a hard-cut sentence) exactly overlap_chars characters.
    Every chunk is a slice of text, so the result is deterministic and loses nothing.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if not 0 <= overlap_chars < max_chars:
        raise ValueError(f"overlap_chars must be in [0, max_chars), got {overlap_chars} with max_chars={max_chars}")
    n = len(text)
    if n == 0:
        return []
    if n <= max_chars:
        return [text]

    bounds = sentence_boundaries(text)
    chunks: list[str] = []
    start = 0
    prev_end = 0
    while n - start > max_chars:
        limit = start + max_chars
        # The chunk must reach past the previous one, or the loop would emit a sub-slice of it forever.
        floor = max(start, prev_end)
        hi = bisect_right(bounds, limit)
        lo = bisect_right(bounds, floor)
        hard_cut = hi <= lo
        end = limit if hard_cut else bounds[hi - 1]
        chunks.append(text[start:end])
        prev_end = end
        start = _next_start(bounds, start, end, overlap_chars, hard_cut=hard_cut)
    chunks.append(text[start:])
    return chunks


def _next_start(bounds: list[int], start: int, end: int, overlap_chars: int, *, hard_cut: bool) -> int:
    """Where the chunk after text[start:end] begins, so that the two share at most overlap_chars."""
    if overlap_chars == 0:
        return end
    window_lo = max(end - overlap_chars, start + 1)
    i = bisect_left(bounds, window_lo)
    if i < len(bounds) and bounds[i] < end:
        return bounds[i]
    if hard_cut:
        return max(end - overlap_chars, start + 1)
    return end
