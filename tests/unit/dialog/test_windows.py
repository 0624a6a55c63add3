"""Long texts split into token-bounded, overlapping windows that cover every character."""

from __future__ import annotations

import itertools

import pytest

from models.chunking import sentence_boundaries
from models.dialog.windows import Window, split_windows


def count(text: str) -> int:
    """A stand-in tokenizer: a word is a token, and so is every Chinese character."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return len(text.replace("\u3002", " ").split()) + cjk


def assert_covers(text: str, windows: list[Window], window_tokens: int) -> None:
    assert windows[0].start == 0 and windows[-1].end == len(text)
    assert [w.index for w in windows] == list(range(len(windows)))
    for before, after in itertools.pairwise(windows):
        assert before.start < after.start <= before.end < after.end, "a gap or a window that does not advance"
    for window in windows:
        assert window.tokens == count(text[window.start : window.end]) <= window_tokens


ENGLISH = " ".join(f"Sentence {i} says the order SO-{i} shipped late again." for i in range(400))


def test_english_windows_cover_the_text_end_on_sentences_and_overlap() -> None:
    windows = split_windows(ENGLISH, window_tokens=120, overlap_tokens=20, count_tokens=count)
    assert len(windows) > 20
    assert_covers(ENGLISH, windows, 120)
    ends = set(sentence_boundaries(ENGLISH))
    assert all(w.end in ends for w in windows), "windows end where sentences end"
    for before, after in itertools.pairwise(windows):
        shared = count(ENGLISH[after.start : before.end])
        assert 0 < shared <= 20


def test_no_overlap_means_windows_meet_end_to_end() -> None:
    windows = split_windows(ENGLISH, window_tokens=120, overlap_tokens=0, count_tokens=count)
    assert all(before.end == after.start for before, after in itertools.pairwise(windows))
    assert "".join(ENGLISH[w.start : w.end] for w in windows) == ENGLISH


def test_a_text_that_fits_is_one_window() -> None:
    assert split_windows("short text.", window_tokens=10, overlap_tokens=2, count_tokens=count) == [Window(0, 0, 11, 2)]
    assert split_windows("", window_tokens=10, overlap_tokens=2, count_tokens=count) == []


def test_chinese_without_spaces_is_windowed_by_characters_and_sentences() -> None:
    text = "客户张伟来电投诉物流太慢，要求加急处理。" * 300
    windows = split_windows(text, window_tokens=100, overlap_tokens=16, count_tokens=count)
    assert len(windows) > 50
    assert_covers(text, windows, 100)
    assert all(text[w.end - 1] == "。" for w in windows), "Chinese windows end on 。"


def test_one_giant_sentence_is_cut_hard_at_spaces_and_still_overlaps() -> None:
    text = " ".join(f"w{i}" for i in range(3000))  # no terminator anywhere
    windows = split_windows(text, window_tokens=200, overlap_tokens=30, count_tokens=count)
    assert_covers(text, windows, 200)
    assert len(windows) >= 3000 // 200
    assert all(w.end == len(text) or text[w.end - 1] == " " for w in windows), "a cut splits no word"
    for before, after in itertools.pairwise(windows):
        assert 0 < count(text[after.start : before.end]) <= 30


def test_a_giant_chinese_sentence_is_cut_anywhere() -> None:
    text = "物流" * 5000
    windows = split_windows(text, window_tokens=256, overlap_tokens=32, count_tokens=count)
    assert_covers(text, windows, 256)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap_tokens"):
        split_windows(ENGLISH, window_tokens=100, overlap_tokens=60, count_tokens=count)
    with pytest.raises(ValueError, match="window_tokens"):
        split_windows(ENGLISH, window_tokens=1, overlap_tokens=0, count_tokens=count)
