"""BANK_CARD: 16-19 digit card numbers, contiguous or in groups of four, Luhn-validated."""

from __future__ import annotations

import pytest

from models.deid.recognizers.bank_card import BankCardRecognizer
from models.deid.syntax.bank_card import is_valid_bank_card, luhn_is_valid

from ._helpers import found, luhn

RECOGNIZER = BankCardRecognizer()
# 16 (UnionPay, Visa), 17, 18 and 19 digits.
CARDS = [
    luhn("622202123456789"),
    luhn("453201511283036"),
    luhn("6214830123456789"),
    luhn("62170012345678901"),
    luhn("621700123456789012"),
]


def test_helper_agrees_with_the_canonical_luhn_examples() -> None:
    assert luhn("7992739871") == "79927398713"
    assert luhn("453201511283036") == "4532015112830366"
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")


@pytest.mark.parametrize("card", CARDS)
def test_contiguous_card_is_found(card: str) -> None:
    assert found(RECOGNIZER, f"卡号{card}。") == [card]


@pytest.mark.parametrize("separator", [" ", "-"])
def test_sixteen_digits_in_groups_of_four_are_found(separator: str) -> None:
    card = luhn("622202123456789")
    spelled = separator.join(card[i : i + 4] for i in range(0, 16, 4))
    assert found(RECOGNIZER, f"card {spelled} exp 12/28") == [spelled]


def test_nineteen_digits_in_groups_of_four_and_three_are_found() -> None:
    card = luhn("621700123456789012")
    spelled = " ".join(card[i : i + 4] for i in range(0, 19, 4))
    assert found(RECOGNIZER, f"借记卡 {spelled}") == [spelled]


def test_grouped_sixteen_followed_by_a_short_number_is_still_found() -> None:
    card = luhn("622202123456789")
    spelled = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    assert found(RECOGNIZER, f"{spelled} 12 pcs") == [spelled]


@pytest.mark.parametrize("card", CARDS)
def test_failing_luhn_is_not_reported(card: str) -> None:
    broken = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert found(RECOGNIZER, f"卡号{broken}") == []
    assert not is_valid_bank_card(broken)


def test_card_inside_a_longer_digit_run_is_not_reported() -> None:
    card = luhn("622202123456789")
    assert found(RECOGNIZER, f"流水号9{card}") == []
    assert found(RECOGNIZER, f"{card}0000") == []


@pytest.mark.parametrize("length", [12, 15, 20])
def test_lengths_outside_16_to_19_are_ignored(length: int) -> None:
    number = luhn("4" * (length - 1))
    assert found(RECOGNIZER, f"no. {number}") == []


def test_a_repeated_digit_placeholder_is_ignored() -> None:
    assert found(RECOGNIZER, "0000 0000 0000 0000") == []
