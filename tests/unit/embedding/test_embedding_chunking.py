"""Chunking: sentence boundaries in Chinese and English, overlap, hard splits, determinism."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.chunking import chunk_spans, chunk_text, sentence_boundaries


def test_empty_text_gives_no_chunks() -> None:
    assert chunk_text("", max_chars=10, overlap_chars=2) == []


def test_text_that_fits_is_one_chunk_unchanged() -> None:
    text = "  short text, kept as is  "
    assert chunk_text(text, max_chars=len(text), overlap_chars=3) == [text]


def test_chinese_punctuation_ends_sentences() -> None:
    text = "第一句话。第二句话！第三句话？第四句"
    assert sentence_boundaries(text) == [5, 10, 15, len(text)]
    assert chunk_text(text, max_chars=10, overlap_chars=0) == ["第一句话。第二句话！", "第三句话？第四句"]


def test_english_period_inside_numbers_and_names_is_not_a_boundary() -> None:
    text = "Version 1.2 of example.com shipped. Next one follows."
    assert sentence_boundaries(text) == [36, len(text)]


def test_closing_quote_and_trailing_space_stay_with_their_sentence() -> None:
    text = "他说：“好。”下一句。 Then English?! Yes."
    ends = sentence_boundaries(text)
    assert text[: ends[0]] == "他说：“好。”"
    assert text[ends[1] : ends[2]] == "Then English?! "


def test_newline_is_a_boundary() -> None:
    text = "line one\nline two\nline three"
    assert chunk_text(text, max_chars=18, overlap_chars=0) == ["line one\nline two\n", "line three"]


def test_chunks_end_on_sentence_boundaries_when_sentences_fit() -> None:
    sentences = ["Alpha beta gamma. ", "Delta epsilon. ", "Zeta eta theta iota. ", "Kappa."]
    text = "".join(sentences)
    chunks = chunk_text(text, max_chars=40, overlap_chars=0)
    assert chunks == [sentences[0] + sentences[1], sentences[2] + sentences[3]]


def test_overlap_repeats_whole_trailing_sentences() -> None:
    text = "甲乙丙。丁戊己。庚辛壬。癸子丑。寅卯辰。"
    chunks = chunk_text(text, max_chars=8, overlap_chars=4)
    assert chunks == ["甲乙丙。丁戊己。", "丁戊己。庚辛壬。", "庚辛壬。癸子丑。", "癸子丑。寅卯辰。"]


def test_sentence_longer_than_max_chars_is_hard_split_with_character_overlap() -> None:
    text = "字" * 25
    chunks = chunk_text(text, max_chars=10, overlap_chars=3)
    assert all(len(chunk) <= 10 for chunk in chunks)
    spans = chunk_spans(text, max_chars=10, overlap_chars=3)
    assert spans[0] == (0, 10)
    assert spans[1][0] == 7  # three characters shared inside the cut sentence


def test_hard_split_prefers_a_space_so_words_stay_whole() -> None:
    text = "averyverylongword another longword still no full stop here at all"
    for chunk in chunk_text(text, max_chars=24, overlap_chars=0):
        for word in chunk.split():
            assert word in text.split()


def test_invalid_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_text("abc", max_chars=0, overlap_chars=0)
    with pytest.raises(ValueError, match="overlap_chars"):
        chunk_text("abc", max_chars=5, overlap_chars=5)


_ALPHABET = st.sampled_from(list("ab 中文。！？.!?\n x"))


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=_ALPHABET, max_size=400),
    max_chars=st.integers(min_value=1, max_value=60),
    overlap_ratio=st.floats(min_value=0.0, max_value=0.9),
)
def test_chunks_cover_text_within_limits_and_overlap(text: str, max_chars: int, overlap_ratio: float) -> None:
    overlap = min(int(max_chars * overlap_ratio), max_chars - 1)
    spans = chunk_spans(text, max_chars=max_chars, overlap_chars=overlap)
    if not text:
        assert spans == []
        return
    assert spans[0][0] == 0
    assert spans[-1][1] == len(text)
    for start, end in spans:
        assert 0 < end - start <= max_chars
    for (s1, e1), (s2, e2) in itertools.pairwise(spans):
        assert s1 < s2 <= e1, "no gap between neighbours, and progress"
        assert e1 - s2 <= overlap, "neighbours share at most overlap_chars"
        assert e2 > e1
    assert chunk_text(text, max_chars=max_chars, overlap_chars=overlap) == [text[s:e] for s, e in spans]


def test_chunking_is_deterministic() -> None:
    text = ("混合 text with 中文。And English sentences! " * 40).strip()
    first = chunk_text(text, max_chars=97, overlap_chars=20)
    assert first == chunk_text(text, max_chars=97, overlap_chars=20)
    assert len(first) > 5
