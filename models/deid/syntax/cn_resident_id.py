"""CN_RESIDENT_ID: 18-character PRC resident identity numbers (GB 11643-1999, ISO 7064 MOD 11-2)."""

from __future__ import annotations

import datetime as dt

# ISO 7064 MOD 11-2: the weight of position i (1-based, left to right) is 2^(18-i) mod 11.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
# Index = weighted sum mod 11; the character makes the full sum (check weight 1) congruent to 1 mod 11.
_CHECK_CHARS = "10X98765432"
_SEPARATORS = str.maketrans("", "", " -")
# Nobody alive was born before this; rejecting older dates removes most random 18-digit numbers.
_EARLIEST_BIRTH = dt.date(1900, 1, 1)

# Address code (6) + birth date YYYYMMDD (8) + sequence (3) + check; optional 6-8-4 grouping with one
# consistent separator. Letters or digits on either side mean the match is part of a longer token.
RESIDENT_ID_REGEX = (
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}(?P<sep>[ -]?)(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
    r"(?:0[1-9]|[12][0-9]|3[01])(?P=sep)[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)


def resident_id_check_char(first17: str) -> str:
    """Return the MOD 11-2 check character for the first 17 digits of a resident ID."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def is_valid_resident_id(value: str, *, today: dt.date | None = None) -> bool:
    """Whether ``value`` (separators allowed) has a real, past birth date and a correct check char."""
    compact = value.translate(_SEPARATORS).upper()
    if len(compact) != 18 or not compact[:17].isascii() or not compact[:17].isdigit():
        return False
    try:
        birth = dt.date(int(compact[6:10]), int(compact[10:12]), int(compact[12:14]))
    except ValueError:
        return False
    if not _EARLIEST_BIRTH <= birth <= (today or dt.date.today()):
        return False
    return resident_id_check_char(compact[:17]) == compact[17]
