r"""Pack regexes on RE2, which runs in time linear in the text: Python's spellings translated, the rest refused.

Patterns in rule and policy packs arrive on rules.v1, so they are untrusted input. Python's `re` backtracks, and
a pattern such as `(\w+\s?)+$` takes exponential time on a short line while holding the GIL: every worker that
meets it hangs. RE2 cannot backtrack, so it has no back-references and no look-around; such patterns are refused
when a pack is loaded or published. Sluice's own, reviewed patterns (built-in recognizers, abbreviation and unit
rules) stay on Python's `re`, which they need for look-behind.

What a pack author writes keeps the meaning it has in Python's `re` where RE2 can express it:
- flags IGNORECASE, MULTILINE, DOTALL become RE2's inline flags; VERBOSE whitespace and comments are stripped
  here (RE2 has no verbose mode); leading inline flags such as `(?x)` are read the same way;
- `\d`, `\w`, `\s` (and `\D`, `\W`, `\S`) match Unicode digits, word characters and spaces as in Python,
  unless the ASCII flag is given (RE2's own classes are ASCII);
- `\Z` is RE2's `\z`; `\uXXXX`, `\UXXXXXXXX` and `\N{NAME}` are code points; `{,n}` is `{0,n}`; `(?#...)` is
  dropped.

Differences that remain (documented in the README): `\b` and `\B` are ASCII word boundaries, and `$` without
MULTILINE matches only at the very end of the text, not before a final newline.

Linear time is per search: a pattern that matches very often in a long text (`a.*b|a` on a run of a's) still
costs time quadratic in its length over all matches. The batch runner's time budget covers what remains.

Replacement templates (`\1`, `\g<name>`) are expanded here, not by the re2 module, whose expansion mangles
non-ASCII text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import re2

FLAGS: tuple[str, ...] = ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII")
_INLINE_FLAGS = {"i": "IGNORECASE", "m": "MULTILINE", "s": "DOTALL", "x": "VERBOSE", "a": "ASCII", "u": None}
_RE2_INLINE = {"IGNORECASE": "i", "MULTILINE": "m", "DOTALL": "s"}

# What Python's `re` means by \w, \d and \s in a str pattern, as RE2 classes (tests compare every code point).
_WORD = r"\p{L}\p{N}_"
_DIGIT = r"\p{Nd}"
_SPACE = r"\t\n\x{0b}\f\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_UNICODE_CLASSES: dict[str, tuple[str, str | None]] = {
    # escape: (outside a [...] set, inside one; None where RE2 cannot put the complement inside a set)
    "d": (_DIGIT, _DIGIT),
    "D": (r"\P{Nd}", r"\P{Nd}"),
    "w": (f"[{_WORD}]", _WORD),
    "W": (f"[^{_WORD}]", None),
    "s": (f"[{_SPACE}]", _SPACE),
    "S": (f"[^{_SPACE}]", None),
}
_VERBOSE_SPACE = " \t\n\r\f\v"
_HEX = "0123456789abcdefABCDEF"


class PatternRefusedError(ValueError):
    """A pack pattern that RE2 cannot run (or that could not be translated): the reason is the message."""


class TextMatch(Protocol):
    """What the cleaning appliers read of a match; Python's re.Match and RE2's match both have it."""

    def span(self) -> tuple[int, int]: ...

    def start(self) -> int: ...

    def end(self) -> int: ...

    def group(self) -> str: ...


M = TypeVar("M", bound=TextMatch, covariant=True)


class TextPattern(Protocol[M]):
    """A compiled pattern as the cleaning appliers use it; Python's re.Pattern and RE2's pattern both are one."""

    def search(self, text: str, pos: int = 0, /) -> M | None: ...

    def finditer(self, text: str, pos: int = ..., endpos: int = ..., /) -> Iterator[M]: ...

    def sub(self, repl: Callable[[M], str], text: str, /) -> str: ...


class PackMatch(TextMatch, Protocol):
    """A match of a pack pattern: also its groups by index (None: the group did not take part)."""

    def __getitem__(self, group: int, /) -> str | None: ...


class PackPattern(TextPattern[PackMatch], Protocol):
    """A compiled pack pattern (RE2): also how many groups it has and their names."""

    @property
    def pattern(self) -> str: ...

    @property
    def groups(self) -> int: ...

    @property
    def groupindex(self) -> Mapping[str, int]: ...


def _options() -> re2.Options:
    options = re2.Options()
    # A refused pattern is reported to the pack's author (dead letter, CLI error); RE2 need not log it too.
    options.log_errors = False
    return options


_OPTIONS = _options()


def _leading_flags(pattern: str) -> tuple[str, list[str]]:
    """Python's global inline flags at the start (`(?ix)...`) as flag names, and the pattern without them."""
    flags: list[str] = []
    while pattern.startswith("(?"):
        end = pattern.find(")")
        letters = pattern[2:end] if end > 2 else ""
        if not letters or any(letter not in _INLINE_FLAGS for letter in letters):
            break
        flags += [name for letter in letters if (name := _INLINE_FLAGS[letter]) is not None]
        pattern = pattern[end + 1 :]
    return pattern, flags


def _code_point(pattern: str, start: int, digits: int) -> tuple[str, int]:
    text = pattern[start : start + digits]
    if len(text) != digits or any(char not in _HEX for char in text):
        raise PatternRefusedError(f"incomplete escape at position {start - 2}: expected {digits} hex digits")
    return f"\\x{{{text}}}", start + digits


def _named_code_point(pattern: str, start: int) -> tuple[str, int]:
    end = pattern.find("}", start)
    if not pattern.startswith("{", start) or end < 0:
        raise PatternRefusedError(f"\\N at position {start - 2} must be followed by {{NAME}}")
    try:
        char = unicodedata.lookup(pattern[start + 1 : end])
    except KeyError:
        raise PatternRefusedError(f"unknown character name {pattern[start + 1 : end]!r}") from None
    return f"\\x{{{ord(char):x}}}", end + 1


def _escape(pattern: str, index: int, *, in_set: bool, ascii_classes: bool) -> tuple[str, int]:
    """The RE2 form of the escape that starts at `index` (a backslash), and where the pattern goes on."""
    if index + 1 >= len(pattern):
        raise PatternRefusedError("the pattern ends with a lone backslash")
    char = pattern[index + 1]
    after = index + 2
    if char in _UNICODE_CLASSES and not ascii_classes:
        outside, inside = _UNICODE_CLASSES[char]
        if not in_set:
            return outside, after
        if inside is None:
            raise PatternRefusedError(
                f"\\{char} inside [...] cannot be expressed in RE2 without the ASCII flag: write a negated set [^...]"
            )
        return inside, after
    if char == "Z" and not in_set:
        return r"\z", after
    if char == "u":
        return _code_point(pattern, after, 4)
    if char == "U":
        return _code_point(pattern, after, 8)
    if char == "N":
        return _named_code_point(pattern, after)
    if char == "C":
        raise PatternRefusedError("\\C (any single byte) can split a character and is not allowed")
    if char == "Q" and not in_set:
        # \Q...\E quotes literally: copied as it is, so nothing inside is translated.
        end = pattern.find(r"\E", after)
        end = len(pattern) if end < 0 else end + 2
        return pattern[index:end], end
    return pattern[index:after], after


def _skip_comment(pattern: str, index: int) -> int:
    end = pattern.find("\n", index)
    return len(pattern) if end < 0 else end + 1


def to_re2_syntax(pattern: str, flags: Sequence[str]) -> str:
    """`pattern` written for Python's `re` with `flags`, as RE2 syntax with the same meaning (see module doc).

    Raises PatternRefusedError for an unknown flag or a construct that cannot be translated; what RE2 itself
    does not support (look-around, back-references) is left for RE2 to refuse.
    """
    pattern, inline = _leading_flags(pattern)
    chosen = {*flags, *inline}
    unknown = sorted(chosen - set(FLAGS))
    if unknown:
        raise PatternRefusedError(f"unknown regex flag(s) {unknown}; allowed: {sorted(FLAGS)}")
    verbose, ascii_classes = "VERBOSE" in chosen, "ASCII" in chosen
    out: list[str] = []
    index, in_set, set_opening = 0, False, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            piece, index = _escape(pattern, index, in_set=in_set, ascii_classes=ascii_classes)
            out.append(piece)
            set_opening = False
            continue
        if in_set:
            # A ']' straight after '[' or '[^' is a literal, in Python and RE2 alike.
            if char == "]" and not set_opening:
                in_set = False
            set_opening = False
            out.append(char)
            index += 1
            continue
        if verbose and char in _VERBOSE_SPACE:
            index += 1
        elif verbose and char == "#":
            index = _skip_comment(pattern, index)
        elif pattern.startswith("(?#", index):
            end = pattern.find(")", index)
            if end < 0:
                raise PatternRefusedError(f"unterminated comment (?#... at position {index}")
            index = end + 1
        elif char == "[":
            in_set, set_opening = True, True
            index += 1
            if pattern.startswith("^", index):
                out.append("[^")
                index += 1
            else:
                out.append("[")
        elif pattern.startswith("{,", index):
            # Python reads {,n} as {0,n}; RE2 would read it as the literal text "{,n}".
            out.append("{0,")
            index += 2
        else:
            out.append(char)
            index += 1
    prefix = "".join(letter for name, letter in _RE2_INLINE.items() if name in chosen)
    return (f"(?{prefix})" if prefix else "") + "".join(out)


def _explain(detail: str, pattern: str) -> str:
    """RE2's reason, with what it means for an author used to Python's `re`."""
    if any(opener in detail for opener in ("(?=", "(?!", "(?<=", "(?<!")):
        return f"{detail} (look-ahead and look-behind are not supported)"
    if "(?P=" in pattern or (detail.startswith("invalid escape sequence: \\") and detail[-1:].isdigit()):
        return f"{detail} (back-references are not supported)"
    if "(?>" in detail or (detail.startswith("bad repetition operator: ") and detail.endswith("+")):
        return f"{detail} (atomic groups and possessive repeats are not supported)"
    return detail


class _Re2Pattern:
    """RE2's compiled pattern with Python's rules for empty matches.

    The re2 module's finditer reports an empty match found after the search position twice (`\\b` on "ab cd"
    gives (2, 2) twice), so its sub would insert a replacement twice; this drops the repeat. Only callables
    are accepted as replacements: the module's own template expansion mangles non-ASCII text.
    """

    __slots__ = ("_compiled",)

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    @property
    def pattern(self) -> str:
        return str(self._compiled.pattern)

    @property
    def groups(self) -> int:
        return int(self._compiled.groups)

    @property
    def groupindex(self) -> Mapping[str, int]:
        return dict(self._compiled.groupindex)

    def search(self, text: str, pos: int = 0, /) -> PackMatch | None:
        found: PackMatch | None = self._compiled.search(text, pos)
        return found

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None, /) -> Iterator[PackMatch]:
        previous: tuple[int, int] | None = None
        match: PackMatch
        for match in self._compiled.finditer(text, pos, endpos):
            span = match.span()
            if span[0] == span[1] and span == previous:
                continue
            previous = span
            yield match

    def sub(self, repl: Callable[[PackMatch], str], text: str, /) -> str:
        pieces: list[str] = []
        last = 0
        for match in self.finditer(text):
            start, end = match.span()
            pieces += (text[last:start], repl(match))
            last = end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def __repr__(self) -> str:
        return f"<RE2 pattern {self.pattern!r}>"


def compile_linear(pattern: str, flags: Sequence[str] = ()) -> PackPattern:
    """Compile a pack pattern on RE2; PatternRefusedError says why a pattern cannot run there."""
    translated = to_re2_syntax(pattern, flags)
    try:
        compiled = re2.compile(translated, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise PatternRefusedError(
            f"RE2 (linear-time matching) cannot run it: {_explain(detail, pattern)}; see the README's rule-pack section"
        ) from None
    return _Re2Pattern(compiled)


def compile_literals(words: Sequence[str]) -> PackPattern:
    """One RE2 pattern matching any of `words` literally, longest first where one word starts another."""
    ordered = sorted(set(words), key=lambda word: (-len(word), word))
    return compile_linear("|".join(re2.escape(word) for word in ordered))


# --- replacement templates --------------------------------------------------------------------------------------

_TEMPLATE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_OCTAL = "01234567"


@dataclass(frozen=True)
class Replacement:
    """A parsed replacement template: literal text and group numbers, in order."""

    pieces: tuple[str | int, ...]

    @property
    def literal(self) -> str | None:
        """The replacement text when it refers to no group (the common case: no per-match work)."""
        if all(isinstance(piece, str) for piece in self.pieces):
            return "".join(piece for piece in self.pieces if isinstance(piece, str))
        return None

    def expand(self, match: PackMatch) -> str:
        """The template filled in from `match`; a group that did not take part is empty, as in Python."""
        return "".join(piece if isinstance(piece, str) else (match[piece] or "") for piece in self.pieces)


def parse_replacement(template: str, groups: int, groupindex: Mapping[str, int]) -> Replacement:
    """Parse a Python `re.sub` template against a pattern's groups; ValueError names what is wrong.

    Same grammar as Python 3.11: \\g<name>, \\g<number>, \\1-\\99, octal \\0, \\0o, \\0oo and \\ooo, the escapes
    \\a \\b \\f \\n \\r \\t \\v \\\\; another backslashed ASCII letter is an error, any other character is kept
    with its backslash.
    """
    pieces: list[str | int] = []
    literal: list[str] = []

    def group(number: int) -> None:
        if number > groups:
            raise ValueError(f"invalid group reference {number}")
        if literal:
            pieces.append("".join(literal))
            literal.clear()
        pieces.append(number)

    index = 0
    while index < len(template):
        char = template[index]
        if char != "\\":
            literal.append(char)
            index += 1
            continue
        if index + 1 >= len(template):
            raise ValueError("bad escape (end of template)")
        kind = template[index + 1]
        index += 2
        if kind == "g":
            end = template.find(">", index)
            if not template.startswith("<", index) or end < 0:
                raise ValueError("missing <name> after \\g")
            name = template[index + 1 : end]
            index = end + 1
            if name.isidentifier():
                if name not in groupindex:
                    raise ValueError(f"unknown group name {name!r}")
                group(groupindex[name])
            elif name.isdecimal() and name.isascii():
                group(int(name))
            else:
                raise ValueError(f"bad character in group name {name!r}")
        elif kind == "0":
            digits = ""
            while len(digits) < 2 and index < len(template) and template[index] in _OCTAL:
                digits += template[index]
                index += 1
            literal.append(chr(int("0" + digits, 8)))
        elif kind.isdecimal() and kind.isascii():
            digits = kind
            if index < len(template) and template[index].isdecimal() and template[index].isascii():
                digits += template[index]
                index += 1
                if digits[0] in _OCTAL and digits[1] in _OCTAL and index < len(template) and template[index] in _OCTAL:
                    value = int(digits + template[index], 8)
                    index += 1
                    if value > 0o377:
                        raise ValueError(f"octal escape value {value:#o} outside of range 0-0o377")
                    literal.append(chr(value))
                    continue
            group(int(digits))
        elif kind in _TEMPLATE_ESCAPES:
            literal.append(_TEMPLATE_ESCAPES[kind])
        elif kind.isascii() and kind.isalpha():
            raise ValueError(f"bad escape \\{kind}")
        else:
            literal.append("\\" + kind)
    if literal:
        pieces.append("".join(literal))
    return Replacement(tuple(pieces))


def replacement_for(pattern: PackPattern, template: str) -> Replacement:
    """`template` parsed against the groups of `pattern`."""
    return parse_replacement(template, pattern.groups, pattern.groupindex)
