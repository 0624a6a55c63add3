"""The detection view: the text as the pattern recognizers read it, each character mapped back to the original.

Formatting that a reader looks straight past must not hide an identifier from a regular expression: invisible
format characters between digit groups, non-ASCII digits, Chinese numerals, dots or slashes as separators, odd
groupings, or a number glued to a word (``Tel13812345678``). The recognizers never read the raw text; they read
the views built here, and every span they find is mapped back to the original characters, which are what get
replaced. This lives in the engine, not in a cleaning pack, so that no pack (nor removing one) can switch it off.

Two views, because one cannot serve both kinds of reading:

- the *folded* view changes single characters only (full-width ASCII, any Unicode decimal digit, spaces and
  dashes folded; ignorable characters dropped), so every spelling the recognizers knew is read as before;
- the *regrouped* view also rewrites runs of digits joined by separators that hold 11 or more digits: numerals
  folded, a mobile number or resident ID in any grouping written contiguously, other separators made one space,
  and letters glued to the run split off. Built only where it differs from the folded view.

What both find is resolved by the engine like any other overlap.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from models.deid.spelling import SEPARATORS, digit_class, fold_char, is_ignorable, numeral_digit
from models.deid.syntax.bank_card import is_valid_bank_card
from models.deid.syntax.cn_mobile import is_plausible_mobile
from models.deid.syntax.cn_resident_id import is_valid_resident_id

__all__ = ["DetectionView", "detection_views"]

# The shortest identifier written in digits (a mobile number): shorter runs are never rewritten.
_MIN_IDENTIFIER_DIGITS = 11
_ID_LENGTH = 18
_MOBILE_LENGTH = 11
_MOBILE_PREFIXES = ("86", "0086")
_LONGEST_PREFIX = max(len(prefix) for prefix in _MOBILE_PREFIXES)
# At most this many visible separator characters join two digit groups ("138 - 1234"); more end the run.
_MAX_SEPARATOR_CHARS = 3


@dataclass(frozen=True)
class DetectionView:
    """A text for the recognizers and, per character, the span of the original it stands for.

    ``starts``/``ends`` are None when the view is one character for one with the original.
    """

    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that the view's ``[start, end)`` stands for (a non-empty view span)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def detection_views(text: str) -> tuple[DetectionView, ...]:
    """The folded view of ``text``, then the regrouped view when it reads differently."""
    folded = _folded_view(text)
    regrouped = _regrouped_view(text)
    if regrouped is None or regrouped.text == folded.text:
        return (folded,)
    return (folded, regrouped)


# --- the folded view ---------------------------------------------------------------------------------


class _FoldTable(dict[int, str]):
    """A ``str.translate`` table that folds each character the first time it is seen."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = fold_char(chr(code))
        return folded


_FOLD = _FoldTable()


def _folded_view(text: str) -> DetectionView:
    if text.isascii():
        return DetectionView(text)
    folded = text.translate(_FOLD)
    if len(folded) == len(text):
        # Nothing was dropped, so the view is still one character for one.
        return DetectionView(folded)
    view = _ViewBuilder()
    view.fold(text, 0, len(text))
    return view.build()


class _ViewBuilder:
    def __init__(self) -> None:
        self.chars: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, char: str, start: int, end: int) -> None:
        self.chars.append(char)
        self.starts.append(start)
        self.ends.append(end)

    def fold(self, text: str, start: int, end: int) -> None:
        """``text[start:end]`` as the folded view reads it."""
        for index in range(start, end):
            folded = fold_char(text[index])
            if folded:
                self.add(folded, index, index + 1)

    def split_from_letters(self, at: int) -> None:
        """A space before what comes next if the view so far ends in an ASCII letter (or a letter and '+')."""
        if self.chars and _is_ascii_letter(self.chars[-1]):
            self.add(" ", at, at)
        elif len(self.chars) >= 2 and self.chars[-1] == "+" and _is_ascii_letter(self.chars[-2]):
            plus = (self.chars.pop(), self.starts.pop(), self.ends.pop())
            self.add(" ", plus[1], plus[1])
            self.add(*plus)

    def build(self) -> DetectionView:
        return DetectionView("".join(self.chars), tuple(self.starts), tuple(self.ends))


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


# --- the regrouped view ------------------------------------------------------------------------------


@functools.cache
def _digit_run() -> re.Pattern[str]:
    return re.compile(f"[{digit_class()}]+")


@dataclass(frozen=True)
class _Group:
    """One run of digits or numerals: its original span and the ASCII digits it spells."""

    start: int
    end: int
    digits: str


@dataclass(frozen=True)
class _Chain:
    """Digit groups joined by separators; ``check_x`` is the offset of an X/x right after the last group."""

    groups: tuple[_Group, ...]
    separators: tuple[tuple[int, int], ...]
    check_x: int | None

    @property
    def digit_count(self) -> int:
        return sum(len(group.digits) for group in self.groups) + (self.check_x is not None)


def _spelled_digits(text: str, start: int, end: int) -> str:
    """The ASCII digits a run of digits and numerals spells, one for each character."""
    return "".join(_spelled_digit(char) for char in text[start:end])


def _spelled_digit(char: str) -> str:
    folded = fold_char(char)
    if folded.isascii() and folded.isdigit():
        return folded
    digit = numeral_digit(char)
    if digit is None:  # the digit-run pattern only matches characters with a digit value
        raise ValueError(f"U+{ord(char):04X} is not a digit")
    return digit


def _separator_end(text: str, start: int, limit: int) -> int | None:
    """Where a separator run from ``start`` ends, if it ends right before the next group at ``limit``."""
    visible = 0
    for index in range(start, limit):
        char = text[index]
        if fold_char(char) in SEPARATORS:
            visible += 1
            if visible > _MAX_SEPARATOR_CHARS:
                return None
        elif not is_ignorable(char):
            return None
    return limit


def _chains(text: str) -> list[_Chain]:
    runs = [(match.start(), match.end()) for match in _digit_run().finditer(text)]
    chains: list[_Chain] = []
    index = 0
    while index < len(runs):
        groups = [_Group(runs[index][0], runs[index][1], _spelled_digits(text, *runs[index]))]
        separators: list[tuple[int, int]] = []
        while index + 1 < len(runs) and _separator_end(text, runs[index][1], runs[index + 1][0]) is not None:
            separators.append((runs[index][1], runs[index + 1][0]))
            index += 1
            groups.append(_Group(runs[index][0], runs[index][1], _spelled_digits(text, *runs[index])))
        last = groups[-1].end
        check_x = last if last < len(text) and fold_char(text[last]) in {"X", "x"} else None
        chains.append(_Chain(tuple(groups), tuple(separators), check_x))
        index += 1
    return chains


@dataclass(frozen=True)
class _Segment:
    """Groups ``first..last`` (inclusive) spell one identifier, to be written without separators; a mobile
    number's country prefix (groups ``first..prefix_last``) keeps one space before the number."""

    first: int
    last: int
    prefix_last: int | None = None
    with_check_x: bool = False


def _segments(chain: _Chain, text: str) -> tuple[list[_Segment], set[int]]:
    """The identifiers to write contiguously, and the separators inside cards, found in the order of their
    strength: resident IDs (checksum), then cards (Luhn; they keep their groups of four), then mobile
    numbers. An IPv4 address is never rewritten."""
    groups = chain.groups
    taken = [False] * len(groups)
    for first in range(len(groups) - 3):
        if _is_ipv4(chain, text, first):
            taken[first : first + 4] = [True] * 4
    found: list[_Segment] = []
    card_separators: set[int] = set()
    for first in range(len(groups)):
        segment = _resident_id_at(chain, first, taken)
        if segment is not None:
            found.append(segment)
            taken[segment.first : segment.last + 1] = [True] * (segment.last - segment.first + 1)
    for first in range(len(groups) - 3):
        last = _card_end(chain, first, taken)
        if last is not None:
            taken[first : last + 1] = [True] * (last - first + 1)
            card_separators.update(range(first, last))
    first = 0
    while first < len(groups):
        segment = _mobile_at(chain, text, first, taken)
        if segment is None:
            first += 1
            continue
        found.append(segment)
        taken[segment.first : segment.last + 1] = [True] * (segment.last - segment.first + 1)
        first = segment.last + 1
    return sorted(found, key=lambda segment: segment.first), card_separators


def _spans(chain: _Chain, first: int, taken: Sequence[bool]) -> list[tuple[int, str]]:
    """(last group, digits of groups first..last) while they stay free and no longer than an ID."""
    spans: list[tuple[int, str]] = []
    digits = ""
    for last in range(first, len(chain.groups)):
        if taken[last]:
            break
        digits += chain.groups[last].digits
        if len(digits) > _ID_LENGTH:
            break
        spans.append((last, digits))
    return spans


def _resident_id_at(chain: _Chain, first: int, taken: Sequence[bool]) -> _Segment | None:
    for last, digits in _spans(chain, first, taken):
        if len(digits) == _ID_LENGTH and is_valid_resident_id(digits):
            return _Segment(first, last)
        at_end = last == len(chain.groups) - 1
        if (
            len(digits) == _ID_LENGTH - 1
            and at_end
            and chain.check_x is not None
            and is_valid_resident_id(digits + "X")
        ):
            return _Segment(first, last, with_check_x=True)
    return None


def _card_end(chain: _Chain, first: int, taken: Sequence[bool]) -> int | None:
    """The last group of a Luhn-valid card written in groups of four from ``first``, if there is one."""
    groups = chain.groups
    if any(taken[first : first + 4]) or any(len(group.digits) != 4 for group in groups[first : first + 4]):
        return None
    digits = "".join(group.digits for group in groups[first : first + 4])
    tail = first + 4
    # A 17-19 digit card ends in a short group (6222 0212 3456 7890 123).
    if (
        tail < len(groups)
        and not taken[tail]
        and len(groups[tail].digits) <= 3
        and is_valid_bank_card(digits + groups[tail].digits)
    ):
        return tail
    return first + 3 if is_valid_bank_card(digits) else None


def _mobile_at(chain: _Chain, text: str, first: int, taken: Sequence[bool]) -> _Segment | None:
    best: _Segment | None = None
    for last, digits in _spans(chain, first, taken):
        if last == first + 1 and _separator(chain, text, first) == ".":
            # Two groups around one dot are a decimal number (1381234.5678), not a regrouped phone.
            continue
        if len(digits) == _MOBILE_LENGTH and _is_mobile(digits):
            best = best or _Segment(first, last)
        prefix = _prefix(chain, first, last)
        if prefix is not None and _is_mobile(digits[len(prefix[1]) :]):
            # The prefixed number (86 138 1234 5678) is one identifier with the bare one inside it.
            best = _Segment(first, last, prefix_last=prefix[0])
    return best


def _prefix(chain: _Chain, first: int, last: int) -> tuple[int, str] | None:
    """(last group, digits) of a 86 / 0086 country prefix in whole groups from ``first``, before ``last``."""
    digits = ""
    for index in range(first, last):
        digits += chain.groups[index].digits
        if digits in _MOBILE_PREFIXES:
            return index, digits
        if len(digits) >= _LONGEST_PREFIX:
            return None
    return None


def _is_mobile(digits: str) -> bool:
    return len(digits) == _MOBILE_LENGTH and digits[0] == "1" and digits[1] in "3456789" and is_plausible_mobile(digits)


def _is_ipv4(chain: _Chain, text: str, first: int) -> bool:
    """Whether groups ``first..first+3`` are an IPv4 address (dotted octets), which stays as written."""
    groups = chain.groups[first : first + 4]
    if len(groups) != 4 or any(len(group.digits) > 3 for group in groups):
        return False
    if any(_separator(chain, text, index) != "." for index in range(first, first + 3)):
        return False
    try:
        ipaddress.IPv4Address(".".join(str(int(group.digits)) for group in groups))
    except ValueError:
        return False
    return True


def _separator(chain: _Chain, text: str, index: int) -> str:
    """The separator after group ``index`` as the folded view reads it (``．`` is ``.``, ZWSP is nothing)."""
    start, end = chain.separators[index]
    return "".join(fold_char(char) for char in text[start:end])


def _regrouped_view(text: str) -> DetectionView | None:
    chains = [chain for chain in _chains(text) if chain.digit_count >= _MIN_IDENTIFIER_DIGITS]
    if not chains:
        return None
    view = _ViewBuilder()
    position = 0
    for chain in chains:
        view.fold(text, position, chain.groups[0].start)
        position = _write_chain(view, text, chain)
    view.fold(text, position, len(text))
    return view.build()


def _write_chain(view: _ViewBuilder, text: str, chain: _Chain) -> int:
    """Write ``chain`` into the view; return the original offset where it ends."""
    segments, card_separators = _segments(chain, text)
    segment_of = {index: segment for segment in segments for index in range(segment.first, segment.last + 1)}
    view.split_from_letters(chain.groups[0].start)
    for index, group in enumerate(chain.groups):
        for offset in range(group.start, group.end):
            view.add(group.digits[offset - group.start], offset, offset + 1)
        if index == len(chain.groups) - 1:
            break
        start, end = chain.separators[index]
        segment = segment_of.get(index)
        if segment is not None and segment_of.get(index + 1) is segment and segment.prefix_last != index:
            continue  # inside one identifier: the separator is dropped
        prefix_end = segment is not None and segment.prefix_last == index
        if prefix_end or index in card_separators or not _separator(chain, text, index):
            # A country prefix and a card's groups get the one separator their patterns know; an invisible
            # separator becomes a visible one, so that two numbers it held apart are not read as one.
            view.add(" ", start, end)
        else:
            view.fold(text, start, end)
    end = chain.groups[-1].end
    last_segment = segment_of.get(len(chain.groups) - 1)
    if last_segment is not None and last_segment.with_check_x and chain.check_x is not None:
        view.add(fold_char(text[chain.check_x]).upper(), chain.check_x, chain.check_x + 1)
        end = chain.check_x + 1
    following = end
    while following < len(text) and not fold_char(text[following]):
        following += 1
    if following < len(text) and _is_ascii_letter(fold_char(text[following])):
        view.add(" ", end, end)
    return end
