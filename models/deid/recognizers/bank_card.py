"""Recognizer for 16-19 digit payment card numbers, Luhn-validated."""

from __future__ import annotations

from presidio_analyzer import Pattern

from models.deid.recognizers._declared import DeclaredPatternRecognizer

_SEPARATORS = str.maketrans("", "", " -")
# A card is a whole token: neither a digit nor a letter may touch it, so digits inside longer runs
# (order numbers, IDs) never become cards.
_LEFT = r"(?<![0-9A-Za-z])"
_RIGHT = r"(?![0-9A-Za-z])"
_CONTIGUOUS = _LEFT + r"[0-9]{16,19}" + _RIGHT
# Groups of four with one consistent separator; the 17-19 digit form ends in a short group.
_FOUR_GROUPS = r"[0-9]{4}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4}"
_GROUPED = _LEFT + _FOUR_GROUPS + _RIGHT
_GROUPED_LONG = _LEFT + _FOUR_GROUPS + r"(?P=sep)[0-9]{1,3}" + _RIGHT


def luhn_is_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn (mod 10) check."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_valid_bank_card(value: str) -> bool:
    """Whether ``value`` (spaces/dashes allowed) is 16-19 digits passing Luhn, and not a constant run."""
    compact = value.translate(_SEPARATORS)
    # A run of one repeated digit (0000...) passes Luhn but is a placeholder, not a card.
    return 16 <= len(compact) <= 19 and len(set(compact)) > 1 and luhn_is_valid(compact)


class BankCardRecognizer(DeclaredPatternRecognizer):
    """Finds payment card numbers, contiguous or in groups of four, and keeps the Luhn-valid ones."""

    ENTITY = "BANK_CARD"
    PATTERNS = (
        Pattern("bank_card_contiguous", _CONTIGUOUS, 0.3),
        Pattern("bank_card_grouped", _GROUPED, 0.3),
        Pattern("bank_card_grouped_long", _GROUPED_LONG, 0.3),
    )
    CONTEXT = ("银行卡", "卡号", "信用卡", "借记卡", "账号", "card", "credit", "debit", "account")
    CHECKSUM = staticmethod(is_valid_bank_card)
