"""CN_MOBILE: mainland mobile numbers in their common spellings, never inside longer digit runs."""

from __future__ import annotations

import pytest

from models.deid.recognizers.cn_mobile import CnMobileRecognizer
from models.deid.syntax.cn_mobile import mobile_digits

from ._helpers import found, luhn, resident_id

RECOGNIZER = CnMobileRecognizer()

SPELLINGS = [
    "13812345678",
    "138 1234 5678",
    "138-1234-5678",
    "+86 138 1234 5678",
    "+8613812345678",
    "+86-138-1234-5678",
    "0086-13812345678",
    "0086 138 1234 5678",
    "(+86)13812345678",
    "(86) 138-1234-5678",
    "（+86）138 1234 5678",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_each_common_spelling_is_found_whole(spelling: str) -> None:
    assert found(RECOGNIZER, f"联系电话：{spelling}，谢谢") == [spelling]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_normalises_to_the_same_eleven_digits(spelling: str) -> None:
    assert mobile_digits(spelling) == "13812345678"


@pytest.mark.parametrize("prefix", ["13", "15", "17", "18", "19"])
def test_all_mobile_network_prefixes_are_found(prefix: str) -> None:
    number = prefix + "912345678"
    assert found(RECOGNIZER, f"call {number} now") == [number]


@pytest.mark.parametrize("number", ["12812345678", "10812345678", "23812345678"])
def test_numbers_outside_the_mobile_ranges_are_ignored(number: str) -> None:
    assert found(RECOGNIZER, f"号码 {number}") == []


def test_mobile_digits_inside_a_resident_id_are_not_reported() -> None:
    # Area 138123 puts a mobile-looking run at the start of the ID.
    identifier = resident_id("138123", "19900307", "123")
    assert found(RECOGNIZER, f"身份证{identifier}") == []


def test_mobile_digits_inside_a_card_number_are_not_reported() -> None:
    card = luhn("62221381234567890")
    assert "13812345678" in card
    assert found(RECOGNIZER, f"卡号{card}") == []


@pytest.mark.parametrize("text", ["order 913812345678", "13812345678901", "x13812345678", "13812345678a"])
def test_longer_runs_and_glued_letters_are_not_mobiles(text: str) -> None:
    assert found(RECOGNIZER, text) == []


def test_inconsistent_separators_are_not_one_number() -> None:
    assert found(RECOGNIZER, "138-1234 5678") == []


def test_placeholder_number_is_ignored() -> None:
    assert found(RECOGNIZER, "电话 13800000000") == []


def test_two_numbers_separated_by_a_space_are_two_hits() -> None:
    assert found(RECOGNIZER, "13812345678 13987654321") == ["13812345678", "13987654321"]
