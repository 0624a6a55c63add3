"""Pseudonyms carry 64 bits; text written with the older 10-digit form still parses, and maps to its new form."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from models.deid.pseudonym_format import (
    DIGEST_CHARS,
    PSEUDONYM_PATTERN,
    generalise_pseudonyms,
    legacy_pseudonym,
    named_pseudonyms,
)
from models.deid.pseudonyms import pseudonym

KEY = b"k" * 32


def test_new_pseudonyms_carry_at_least_64_bits() -> None:
    token = pseudonym("13812345678", "CN_MOBILE", KEY)
    digest = token.removeprefix("<CN_MOBILE_").removesuffix(">")
    assert DIGEST_CHARS * 4 >= 64 and len(digest) == DIGEST_CHARS == 16
    assert PSEUDONYM_PATTERN.fullmatch(token)


def test_the_old_10_digit_pseudonym_is_the_prefix_of_the_new_one() -> None:
    # What records indexed before the change hold for the same value under the same key.
    old_digest = hmac.new(KEY, b"CN_MOBILE\x1f13812345678", hashlib.sha256).hexdigest()[:10]
    token = pseudonym("13812345678", "CN_MOBILE", KEY)
    assert legacy_pseudonym(token) == f"<CN_MOBILE_{old_digest}>"


@pytest.mark.parametrize("value", ["<CN_MOBILE_49e582b863>", "<PERSON_xyz>", "13812345678", "<PERSON_49e582b863d1a>"])
def test_only_a_16_digit_pseudonym_has_a_legacy_form(value: str) -> None:
    assert legacy_pseudonym(value) is None


def test_both_lengths_parse_in_text_so_old_records_embed_the_same() -> None:
    old, new = "<PERSON_3c976b0a75>", "<PERSON_3c976b0a75e2d418>"
    text = f"{old} wrote to {new}"
    assert generalise_pseudonyms(text) == "<PERSON> wrote to <PERSON>"
    assert named_pseudonyms(text) == [old, new]
