"""CN_MOBILE: mainland China mobile numbers (1[3-9]x xxxx xxxx) with an optional +86 / 0086 prefix."""

from __future__ import annotations

# Country prefix in its common spellings: +86, 0086, 86 only when followed by a separator, and the
# parenthesised (+86) / (86); each may be followed by one space or dash.
_PREFIX = r"(?:(?:\+|00)86[ -]?|86[ -]|[(（]\+?86[)）][ -]?)?"
# 3-4-4 grouping with one consistent separator (or none). The look-behind also rejects '+', so a
# number inside "+8613812345678" is only ever matched together with its prefix.
MOBILE_REGEX = r"(?<![0-9A-Za-z+])" + _PREFIX + r"1[3-9][0-9](?P<sep>[ -]?)[0-9]{4}(?P=sep)[0-9]{4}(?![0-9A-Za-z])"


def mobile_digits(value: str) -> str:
    """The 11 national digits of a mobile number in any supported spelling (prefix dropped)."""
    digits = "".join(char for char in value if "0" <= char <= "9")
    if len(digits) == 15 and digits.startswith("0086"):
        return digits[4:]
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    return digits


def is_plausible_mobile(value: str) -> bool:
    """Whether ``value`` holds 11 national digits that are not a placeholder."""
    digits = mobile_digits(value)
    # A single repeated digit after the network prefix (13800000000) is a placeholder.
    return len(digits) == 11 and len(set(digits[3:])) > 1
