"""Rules compiled once per engine into functions of (text, unprotected spans) → (new text, hits)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from models.cleaning import text_ops
from models.cleaning.rules import AbbreviationRule, BuiltinRule, RegexRule, Rule, UnitRule
from models.packs.linear_regex import TextMatch, TextPattern

# A match of Python's re (Sluice's own patterns) or of RE2 (a pack's regex rule).
M = TypeVar("M", bound=TextMatch)

# Unprotected [start, end) spans of the text, in order; None means the whole text is unprotected.
Spans = Sequence[tuple[int, int]] | None


class Applier(Protocol):
    """A compiled rule: returns the rewritten text and how many rewrites it made (0: text unchanged)."""

    def __call__(self, text: str, spans: Spans, /) -> tuple[str, int]: ...


def _matches_outside(pattern: TextPattern[M], text: str, spans: Sequence[tuple[int, int]]) -> Iterator[M]:
    """Matches that lie wholly inside one unprotected span, found in one pass over the text.

    Searching the whole text (not slices) lets look-arounds see the real neighbours: "Foo" followed by
    protected text is still judged with the "o" next to it.
    """
    if not spans:
        return
    index = 0
    matches = pattern.finditer(text, spans[0][0])
    while (match := next(matches, None)) is not None:
        start, end = match.span()
        # A zero-width match at the very end of the text belongs to a final unprotected span.
        while index < len(spans) and start >= spans[index][1] and not start == end == spans[index][1] == len(text):
            index += 1
        if index == len(spans):
            return
        span_start, span_end = spans[index]
        if start < span_start:
            # It began inside protected text: look again from where the next unprotected span begins.
            matches = pattern.finditer(text, span_start)
        elif end <= span_end:
            yield match
        else:
            # It runs into protected text: only what fits inside this span may be rewritten.
            yield from pattern.finditer(text, start, span_end)
            index += 1
            if index == len(spans):
                return
            matches = pattern.finditer(text, spans[index][0])


@dataclass(frozen=True)
class RegexApplier(Generic[M]):
    """Rewrite matches of a pattern; a replacement equal to the match is not counted as a hit."""

    pattern: TextPattern[M]
    replace: Callable[[M], str]

    def __call__(self, text: str, spans: Spans, /) -> tuple[str, int]:
        if spans is None:
            # Most rules match nothing in most records; a C-level search is the cheap way to find out.
            if self.pattern.search(text) is None:
                return text, 0
            hits = 0

            def counted(match: M) -> str:
                nonlocal hits
                new = self.replace(match)
                if new != match.group():
                    hits += 1
                return new

            rewritten = self.pattern.sub(counted, text)
            return (rewritten, hits) if hits else (text, 0)
        pieces: list[str] = []
        last = 0
        hits = 0
        for match in _matches_outside(self.pattern, text, spans):
            new = self.replace(match)
            if new != match.group():
                pieces += (text[last : match.start()], new)
                last = match.end()
                hits += 1
        if not hits:
            return text, 0
        pieces.append(text[last:])
        return "".join(pieces), hits


@dataclass(frozen=True)
class SegmentApplier:
    """Apply a context-free transform to each unprotected span on its own."""

    transform: Callable[[str], tuple[str, int]]

    def __call__(self, text: str, spans: Spans, /) -> tuple[str, int]:
        if spans is None:
            return self.transform(text)
        pieces: list[str] = []
        last = 0
        hits = 0
        for start, end in spans:
            new, count = self.transform(text[start:end])
            pieces += (text[last:start], new)
            last = end
            hits += count
        if not hits:
            return text, 0
        pieces.append(text[last:])
        return "".join(pieces), hits


# Characters that make an adjacent ASCII token part of something bigger: a word (letters, digits,
# '_'), a code (`bid-3`, `hs-CRP`), an address (`bid@x.org`) or a dotted name (`messages.po`).
# A '.' that is not followed by such a character is ordinary punctuation: "… tid." still expands.
#
# Patterns below start by consuming one plain character class (the possible first characters) and
# only then look behind it: a pattern that starts with a look-behind, or with case-insensitive
# literals, makes the regex engine try every position, which was 3-4x slower per record.
# A combining mark after a token belongs to its last letter ("bid\u0301" is not "bid"), and after a
# rewrite it could compose with the new last letter on the next cleaning.
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_TOKEN_BEFORE = r"(?<![A-Za-z0-9_@-].)(?<![A-Za-z0-9_]\..)"
_TOKEN_AFTER = rf"(?![A-Za-z0-9_@{_COMBINING}-])(?!\.[A-Za-z0-9_])"


def _cased(literal: str, ignore_case: bool) -> str:
    return f"(?i:{literal})" if ignore_case and literal else literal


def _first_char_class(chars: set[str]) -> str:
    return "[" + "".join(re.escape(char) for char in sorted(chars)) + "]"


def abbreviation_pattern(rule: AbbreviationRule) -> re.Pattern[str]:
    """The pattern for an abbreviation rule (see AbbreviationRule for the boundary semantics)."""
    by_first: dict[str, list[str]] = {}
    for term, _ in rule.terms:
        key = term[0].lower() if rule.ignore_case else term[0]
        by_first.setdefault(key, []).append(term[1:])
    first_chars: set[str] = set()
    branches = []
    for key, rests in sorted(by_first.items()):
        chars = {key, key.upper()} if rule.ignore_case else {key}
        first_chars |= chars
        # Longest first: where one term is a prefix of another ("q", "q.d."), the longer one is meant.
        rests = sorted({rest.lower() if rule.ignore_case else rest for rest in rests}, key=lambda r: (-len(r), r))
        alternation = "|".join(re.escape(rest) for rest in rests)
        branches.append(f"(?<={_first_char_class(chars)})" + _cased(f"(?:{alternation})", rule.ignore_case))
    preceded = "".join(
        f"(?<!{word}.)(?<!{word}\\s.)"
        for word in (_cased(re.escape(raw), rule.ignore_case) for raw in rule.unless_preceded_by)
    )
    followed = (
        r"(?!\s*" + _cased("(?:" + "|".join(map(re.escape, rule.unless_followed_by)) + ")", rule.ignore_case) + ")"
        if rule.unless_followed_by
        else ""
    )
    body = "(?:" + "|".join(branches) + ")"
    # ASCII: case folding stays ASCII, so "bıd" (dotless i) is not read as "bid".
    return re.compile(
        _first_char_class(first_chars) + _TOKEN_BEFORE + preceded + body + _TOKEN_AFTER + followed, re.ASCII
    )


def _abbreviation_applier(rule: AbbreviationRule) -> RegexApplier[re.Match[str]]:
    if rule.ignore_case:
        folded = {term.lower(): expansion for term, expansion in rule.terms}
        return RegexApplier(abbreviation_pattern(rule), lambda match: folded[match.group().lower()])
    exact = dict(rule.terms)
    return RegexApplier(abbreviation_pattern(rule), lambda match: exact[match.group()])


# A number is ASCII digits, optionally with thousands commas and a decimal part, and does not continue
# a token (`B12mg`, `x5mg`) or the fraction of a longer number (`12,5mg` is left for a human). The
# first digit is consumed before looking behind it, for the reason given above.
_NUMBER = (
    r"(?P<number>[0-9](?<![A-Za-z0-9_][0-9])(?<![0-9][.,][0-9])"
    r"(?:[0-9]{0,2}(?:,[0-9]{3})+|[0-9]*)(?:\.[0-9]+)?)"
)


def unit_pattern(rule: UnitRule) -> re.Pattern[str]:
    """The pattern for a unit rule: number, optional blanks, one alias, no letter or digit after."""
    aliases = sorted(rule.aliases, key=len, reverse=True)
    alternation = _cased("(?:" + "|".join(re.escape(alias) for alias in aliases) + ")", rule.ignore_case)
    return re.compile(rf"{_NUMBER}[ \t]*{alternation}(?![A-Za-z0-9_{_COMBINING}])", re.ASCII)


def _unit_applier(rule: UnitRule) -> RegexApplier[re.Match[str]]:
    suffix = rule.separator + rule.canonical
    return RegexApplier(unit_pattern(rule), lambda match: match.group("number") + suffix)


def _regex_applier(rule: RegexRule) -> Applier:
    pattern, replacement = rule.compile()
    literal = replacement.literal
    if literal is not None:
        return RegexApplier(pattern, lambda _match: literal)
    return RegexApplier(pattern, replacement.expand)


_BUILTINS: dict[str, Applier] = {
    "strip_control": SegmentApplier(text_ops.strip_control),
    "strip_markup": SegmentApplier(text_ops.strip_markup),
    "unicode_nfkc": SegmentApplier(text_ops.unicode_nfkc),
    "collapse_whitespace": RegexApplier(text_ops.WHITESPACE_RE, text_ops.whitespace_replacement),
}


def compile_rule(rule: Rule) -> Applier:
    """Compile one validated rule."""
    if isinstance(rule, RegexRule):
        return _regex_applier(rule)
    if isinstance(rule, AbbreviationRule):
        return _abbreviation_applier(rule)
    if isinstance(rule, UnitRule):
        return _unit_applier(rule)
    builtin: BuiltinRule = rule
    return _BUILTINS[builtin.kind]
