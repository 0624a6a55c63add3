"""Protected identifiers: which tokens NER must leave verbatim, from the built-in shapes and from pack patterns."""

from __future__ import annotations

import re

import pytest

from models.deid.protected import is_identifier_shaped, protected_spans
from models.packs.linear_regex import compile_linear


def spans(text: str, *extra: str) -> list[str]:
    patterns = [compile_linear(pattern) for pattern in extra]
    return [text[start:end] for start, end in protected_spans(text, patterns)]


@pytest.mark.parametrize(
    "identifier",
    [
        "SO-46342748",
        "INV-32954502",
        "INV32954502",
        "PO-2026-004411",
        "DN-00012345",
        "SKU-4821",
        "RT-3863-XL",
        "GRN_2026/0042",
        "3f9a1c2b7d0e4f61",
        "3f9a1c2b7d0e4f613f9a1c2b7d0e4f61",
        "123e4567-e89b-12d3-a456-426614174000",
        "123E4567-E89B-12D3-A456-426614174000",
    ],
)
def test_identifier_shapes_are_protected_in_english_and_chinese_text(identifier: str) -> None:
    assert spans(f"Customer asked about {identifier}, thanks") == [identifier]
    assert spans(f"订单{identifier}已发货") == [identifier]


@pytest.mark.parametrize(
    "text",
    [
        "ERP CRM SKU API",  # words, no digit
        "Evelyn Nguyen",
        "Evelyn-2024",  # lower-case letters: a name with a year, not a document number
        "2026-11-01",  # a date starts with a digit
        "abc12",  # lower case and short
        "deadbeefcafe",  # hex shorter than 16
        "so-46342748",  # lower-case prefix
    ],
)
def test_words_names_dates_and_short_tokens_are_not_protected(text: str) -> None:
    assert spans(text) == []


def test_an_identifier_glued_to_latin_letters_is_not_cut_out_of_a_word() -> None:
    assert spans("xSO-46342748") == []
    assert spans("SO-46342748x") == []


def test_a_pack_pattern_protects_its_own_format() -> None:
    assert spans("工单case#123456已关闭", r"case#[0-9]{6}") == ["case#123456"]


def test_a_pack_pattern_cannot_protect_names_or_text_without_digits() -> None:
    # However broad, a pack pattern's matches count only when they are one token holding a digit.
    assert spans("Evelyn Nguyen called", r"[A-Za-z]+", r".+") == []
    assert spans("Evelyn Nguyen7 called", r"[A-Za-z]+ [A-Za-z0-9]+") == []


def test_overlapping_matches_merge_into_one_span() -> None:
    assert spans("ref SO-46342748-A2 ok", r"46342748-A2") == ["SO-46342748-A2"]


@pytest.mark.parametrize(
    ("value", "shaped"),
    [("SO-1234", True), ("A1", False), ("ABCD", False), ("SO 1234", False), ("X" * 80 + "1", False)],
)
def test_identifier_shape(value: str, shaped: bool) -> None:
    assert is_identifier_shaped(value) is shaped


def test_python_patterns_work_as_extra_patterns_too() -> None:
    assert [m for m in protected_spans("id ZZ99", [re.compile(r"ZZ99")])] == [(3, 7)]
