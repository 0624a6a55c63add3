"""BANK_CARD: 16-19 digit payment card numbers, Luhn-validated."""

from __future__ import annotations

_SEPARATORS = str.maketrans("", "", " -")
# A card is a whole token: neither a digit nor a letter may touch it, so digits inside longer runs
# (order numbers, IDs) never become cards.
_LEFT = r"(?<![0-9A-Za-z])"
_RIGHT = r"(?![0-9A-Za-z])"
BANK_CARD_CONTIGUOUS_REGEX = _LEFT + r"[0-9]{16,19}" + _RIGHT
# Groups of four with one consistent separator; the 17-19 digit form ends in a short group.
_FOUR_GROUPS = r"[0-9]{4}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4}"
BANK_CARD_GROUPED_REGEX = _LEFT + _FOUR_GROUPS + _RIGHT
BANK_CARD_GROUPED_LONG_REGEX = _LEFT + _FOUR_GROUPS + r"(?P=sep)[0-9]{1,3}" + _RIGHT


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
