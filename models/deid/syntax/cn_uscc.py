"""CN_USCC: 18-character unified social credit codes of PRC organisations (GB 32100-2015)."""

from __future__ import annotations

# The code alphabet leaves out I, O, S, V and Z so they cannot be confused with digits.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Weight of position i (0-based) is 3^i mod 31, as the standard tabulates.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_CODE_CHAR = "[0-9A-HJ-NPQRTUWXY]"
# Registration authority + organisation type (2), administrative division (6 digits), organisation
# code (9) and check (1). Case-insensitive matching is on, so lower-case codes are found and validated.
USCC_REGEX = r"(?<![0-9A-Za-z])" + _CODE_CHAR + r"{2}[0-9]{6}" + _CODE_CHAR + r"{10}(?![0-9A-Za-z])"


def uscc_check_char(first17: str) -> str:
    """Return the check character for the first 17 characters of a unified social credit code."""
    total = sum(ALPHABET.index(char) * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    """Whether ``value`` is 18 characters of the code alphabet with a correct check character."""
    code = value.strip().upper()
    if len(code) != 18 or any(char not in ALPHABET for char in code):
        return False
    return uscc_check_char(code[:17]) == code[17]
