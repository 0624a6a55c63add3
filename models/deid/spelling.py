"""How people spell digits: the character classes the detection view and the pseudonym normaliser share.

No heavy imports: the pseudonym normaliser runs in processes that never load Presidio.
"""

from __future__ import annotations

import functools
import unicodedata

# Chinese numerals as they are written digit by digit (一三八…): everyday, telephone (幺 for 1, 两 for 2)
# and the financial capitals (壹贰叁…, traditional forms included). 十/百/千 are left out on purpose:
# they spell quantities (一百三十八), never a digit string.
CHINESE_NUMERALS: dict[str, str] = {
    "〇": "0",
    "零": "0",
    "一": "1",
    "幺": "1",
    "壹": "1",
    "二": "2",
    "两": "2",
    "兩": "2",
    "贰": "2",
    "貳": "2",
    "三": "3",
    "叁": "3",
    "參": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "陸": "6",
    "七": "7",
    "柒": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "玖": "9",
}

# Characters people put between digit groups (after the one-for-one folds below: full-width ．／－＿ are
# already ASCII, every dash is "-", every space is " "). A line break is not one: it ends a number.
SEPARATORS = frozenset(" \t./\\-_·・･‧∙⋅•")

# Dashes and minus signs that read as "-" (U+2010-2015, ⁃, −, ﹘, ﹣).
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63")
# Fillers that render as nothing but are letters to Unicode, so their category does not give them away.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_FULLWIDTH_FIRST, _FULLWIDTH_LAST, _FULLWIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0


def is_ignorable(char: str) -> bool:
    """Whether ``char`` renders as nothing next to a digit: format characters (ZWSP, ZWNJ, ZWJ, WJ, soft
    hyphen, BOM, LRM/RLM and the bidi controls), combining marks (CGJ U+034F, variation selectors) and
    invisible fillers."""
    return unicodedata.category(char) in {"Cf", "Mn", "Me"} or char in _INVISIBLE_LETTERS


@functools.cache
def fold_char(char: str) -> str:
    """The character as the pattern recognizers read it; "" for an ignorable one.

    Every fold is one character for one (or for none), so offsets map back simply: full-width ASCII to ASCII,
    any Unicode decimal digit (Arabic-Indic, Devanagari, mathematical, …) to its ASCII digit, every space to
    " " and every dash to "-".
    """
    code = ord(char)
    if code < 0x80:
        return char
    if _FULLWIDTH_FIRST <= code <= _FULLWIDTH_LAST:
        return chr(code - _FULLWIDTH_OFFSET)
    if is_ignorable(char):
        return ""
    if char in _DASHES:
        return "-"
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category == "Nd":
        return str(unicodedata.decimal(char))
    return char


@functools.cache
def numeral_digit(char: str) -> str | None:
    """The ASCII digit a numeral spells (一 → 1, ① → 1, ¹ → 1), or None.

    Unlike a decimal digit, a numeral also reads as a word (一个, 第一) or as a footnote mark, so the
    detection view folds it only inside a run of digits long enough to be an identifier.
    """
    if char in CHINESE_NUMERALS:
        return CHINESE_NUMERALS[char]
    if unicodedata.category(char) == "No":
        value = unicodedata.digit(char, None)
        return None if value is None else str(value)
    return None


@functools.cache
def digit_class() -> str:
    """A regular-expression character class body matching every digit or numeral (``[...]`` without brackets)."""
    # Every Unicode "other number" with a digit value lies below U+20000 (checked against the full range).
    numerals = "".join(chr(code) for code in range(0x80, 0x20000) if numeral_digit(chr(code)) is not None)
    return r"\d" + "".join(f"\\{char}" if char in "\\]^-[" else char for char in numerals)


def fold_identifier_text(value: str, *, numerals: bool) -> str:
    """``value`` with ignorable characters removed and every digit in ASCII; numerals too when ``numerals``."""
    folded = []
    for char in value:
        digit = numeral_digit(char) if numerals else None
        folded.append(digit if digit is not None else fold_char(char))
    return "".join(folded)


def spells_a_number(value: str) -> bool:
    """Whether every Chinese character in ``value`` is a numeral (so 一 in it is a digit, not a word)."""
    return all(
        char in CHINESE_NUMERALS or not ("\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff") for char in value
    )
