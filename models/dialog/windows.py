"""Split a long text into overlapping, sentence-aligned windows that each fit a model's token budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from models.chunking import sentence_boundaries

CountTokens = Callable[[str], int]
# No tokenizer we serve makes a token of more characters than this; it bounds the search for a hard cut, so that
# cutting a 130,000-character sentence counts short prefixes, not the rest of the sentence each time.
_MAX_CHARS_PER_TOKEN = 32


@dataclass(frozen=True)
class Window:
    """Part `index` of a text: text[start:end], `tokens` long as the generator counts it."""

    index: int
    start: int
    end: int
    tokens: int


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    tokens: int


def split_windows(text: str, *, window_tokens: int, overlap_tokens: int, count_tokens: CountTokens) -> list[Window]:
    """Windows of at most window_tokens tokens that together cover text, neighbours sharing up to overlap_tokens.

    Windows end on sentence boundaries (models.chunking.sentence_boundaries) where they can; a sentence longer than
    a window is cut hard, at a space when there is one near the cut (Chinese has none and is cut anywhere). The
    overlap is whole trailing sentences of the previous window when they fit, else the tail of its last piece.
    Every window is a slice of text, so nothing is lost and the result is deterministic.
    """
    if window_tokens < 2:
        raise ValueError(f"window_tokens must be at least 2, got {window_tokens}")
    if not 0 <= overlap_tokens <= window_tokens // 2:
        raise ValueError(f"overlap_tokens must be in [0, {window_tokens // 2}] (half a window), got {overlap_tokens}")
    if not text:
        return []
    whole = count_tokens(text)
    if whole <= window_tokens:
        return [Window(0, 0, len(text), whole)]
    # A sentence that does not fit beside the overlap is cut into pieces much smaller than a window, so that windows
    # over it still fill up and overlap.
    piece_tokens = max(overlap_tokens, window_tokens // 8, 1)
    pieces = _pieces(text, window_tokens - overlap_tokens, piece_tokens, count_tokens)
    windows: list[Window] = []
    first = 0  # index of the first piece not yet in any window
    lead: _Piece | None = None  # the overlap carried from the previous window
    while first < len(pieces):
        start = lead.start if lead is not None else pieces[first].start
        budget = window_tokens - (lead.tokens if lead is not None else 0)
        last = first
        used = pieces[first].tokens
        while last + 1 < len(pieces) and used + pieces[last + 1].tokens <= budget:
            last += 1
            used += pieces[last].tokens
        if used > budget and lead is not None:
            lead = None  # the overlap leaves no room for the next piece: drop it, keep the piece
            continue
        # Counts of pieces add up to about the count of their concatenation; the window's own count decides.
        tokens = count_tokens(text[start : pieces[last].end])
        while tokens > window_tokens and last > first:
            last -= 1
            tokens = count_tokens(text[start : pieces[last].end])
        if tokens > window_tokens and lead is not None:
            lead = None
            continue
        windows.append(Window(len(windows), start, pieces[last].end, tokens))
        opened = first
        first = last + 1
        lead = _overlap(text, pieces, opened, last, overlap_tokens, count_tokens) if first < len(pieces) else None
    return windows


def _pieces(text: str, sentence_tokens: int, piece_tokens: int, count_tokens: CountTokens) -> list[_Piece]:
    """Sentences with their token counts; one above sentence_tokens comes as hard-cut parts of piece_tokens."""
    pieces: list[_Piece] = []
    start = 0
    for end in sentence_boundaries(text):
        if end <= start:
            continue
        tokens = count_tokens(text[start:end])
        if tokens <= sentence_tokens:
            pieces.append(_Piece(start, end, tokens))
        else:
            pieces.extend(_hard_cut(text, start, end, piece_tokens, count_tokens))
        start = end
    return pieces


def _hard_cut(text: str, start: int, end: int, piece_tokens: int, count_tokens: CountTokens) -> list[_Piece]:
    pieces: list[_Piece] = []
    while start < end:
        cut = _longest_prefix(text, start, end, piece_tokens, count_tokens)
        if cut < end:
            # Prefer a space in the second half of the piece, so English words stay whole.
            for pos in range(cut, start + (cut - start) // 2, -1):
                if text[pos - 1].isspace():
                    cut = pos
                    break
        pieces.append(_Piece(start, cut, count_tokens(text[start:cut])))
        start = cut
    return pieces


def _longest_prefix(text: str, start: int, end: int, tokens: int, count_tokens: CountTokens) -> int:
    """The largest cut in (start, end] with text[start:cut] at most `tokens` long (at least one character)."""
    lo, hi = start + 1, min(end, start + tokens * _MAX_CHARS_PER_TOKEN)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[start:mid]) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _overlap(
    text: str, pieces: list[_Piece], first: int, last: int, overlap_tokens: int, count_tokens: CountTokens
) -> _Piece | None:
    """The end of the window of pieces[first..last], to open the next one with: its trailing whole pieces that
    fit the overlap, else the longest tail of its last piece that does."""
    if overlap_tokens == 0:
        return None
    k = last + 1
    used = 0
    while k - 1 >= first and used + pieces[k - 1].tokens <= overlap_tokens:
        k -= 1
        used += pieces[k].tokens
    end = pieces[last].end
    if k <= last:
        return _Piece(pieces[k].start, end, used)
    # No whole piece fits: the longest tail of the last piece within the overlap.
    piece = pieces[last]
    lo, hi = piece.start + 1, end  # candidate starts; a later start is a shorter tail
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(text[mid:end]) <= overlap_tokens:
            hi = mid
        else:
            lo = mid + 1
    if lo >= end:
        return None
    return _Piece(lo, end, count_tokens(text[lo:end]))
