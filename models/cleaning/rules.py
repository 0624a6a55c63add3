"""Rule declarations as they appear in a pack: one frozen, validated value per rule kind."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias, cast, get_args

from models.cleaning.errors import RulePackError

BuiltinKind = Literal["strip_markup", "strip_control", "collapse_whitespace", "unicode_nfkc"]
BUILTIN_KINDS: tuple[str, ...] = get_args(BuiltinKind)
RULE_KINDS: tuple[str, ...] = ("regex", "abbreviation", "unit", *BUILTIN_KINDS)

REGEX_FLAGS: dict[str, re.RegexFlag] = {
    "IGNORECASE": re.IGNORECASE,
    "MULTILINE": re.MULTILINE,
    "DOTALL": re.DOTALL,
    "VERBOSE": re.VERBOSE,
    "ASCII": re.ASCII,
}
# Packs arrive from a topic; a cap on pattern size keeps one message from compiling a huge automaton.
MAX_PATTERN_CHARS = 2000

_RULE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Terms start with a letter so the ASCII-letter boundary check around them means something.
_TERM_RE = re.compile(r"[A-Za-z][A-Za-z0-9.]*")


def _check_id(rule_id: object) -> str:
    if not isinstance(rule_id, str) or not _RULE_ID_RE.fullmatch(rule_id):
        raise RulePackError(f"id must be a string of letters, digits, '.', '_' or '-' (at most 128), got {rule_id!r}")
    return rule_id


def _fail(rule_id: str, reason: str) -> RulePackError:
    return RulePackError(reason, rule=rule_id)


def _check_str(rule_id: str, field: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(rule_id, f"{field} must be a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise _fail(rule_id, f"{field} must not be empty")
    return value


def _check_bool(rule_id: str, field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _fail(rule_id, f"{field} must be true or false, got {value!r}")
    return value


def _check_str_tuple(rule_id: str, field: str, value: object) -> tuple[str, ...]:
    # A bare string is iterable too; accepting it would silently split "mg" into "m" and "g".
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(rule_id, f"{field} must be a list of strings, got {type(value).__name__}")
    items = tuple(_check_str(rule_id, f"{field}[{i}]", item) for i, item in enumerate(value))
    return items


def _duplicates(items: tuple[str, ...], *, fold_case: bool) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for item in items:
        key = item.lower() if fold_case else item
        if key in seen:
            dupes.append(item)
        seen.add(key)
    return dupes


@dataclass(frozen=True)
class RegexRule:
    """Replace every match of `pattern` with `replacement` (a re template: \\1, \\g<name>)."""

    id: str
    pattern: str
    replacement: str
    flags: tuple[str, ...] = ()
    description: str = ""
    kind: ClassVar[str] = "regex"

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check_str(self.id, "pattern", self.pattern)
        _check_str(self.id, "replacement", self.replacement, allow_empty=True)
        _check_str_tuple(self.id, "flags", self.flags)
        _check_str(self.id, "description", self.description, allow_empty=True)
        if len(self.pattern) > MAX_PATTERN_CHARS:
            raise _fail(self.id, f"pattern is {len(self.pattern)} characters, the limit is {MAX_PATTERN_CHARS}")
        unknown = [flag for flag in self.flags if flag not in REGEX_FLAGS]
        if unknown:
            raise _fail(self.id, f"unknown regex flag(s) {unknown}; allowed: {sorted(REGEX_FLAGS)}")
        compiled = self.compile()
        if compiled.match("") is not None:
            # It would insert the replacement between every pair of characters.
            raise _fail(self.id, f"pattern {self.pattern!r} matches the empty string")
        try:
            # Substituting into "" parses the template, so a bad group reference fails here, not per record.
            compiled.sub(self.replacement, "")
        except (re.error, IndexError) as exc:
            raise _fail(self.id, f"bad replacement {self.replacement!r}: {exc}") from None

    def compile(self) -> re.Pattern[str]:
        """The compiled pattern; raises RulePackError if it does not compile."""
        flags = re.NOFLAG
        for flag in self.flags:
            flags |= REGEX_FLAGS[flag]
        try:
            return re.compile(self.pattern, flags)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            raise _fail(self.id, f"bad regex {self.pattern!r}: {exc}") from None

    def to_mapping(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "pattern": self.pattern,
            "replacement": self.replacement,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class AbbreviationRule:
    """Expand whole ASCII tokens (`bid` → 每日两次), never letters inside a longer token (`forbid`).

    A term matches only when the characters around it are not ASCII letters, digits, '_', '-' or '@',
    and not a '.' joined to another ASCII letter or digit: so `口服bid` and `bid，` expand, while
    `bid-3`, `BID-Pro`, `3bid`, `qd_flag`, `bid@x.org` and `messages.po` stay as they are.
    `unless_followed_by` / `unless_preceded_by` list context strings (optionally across one run of
    whitespace / one whitespace character) that block a match, e.g. `IV期` is a stage, not a route.
    """

    id: str
    terms: tuple[tuple[str, str], ...]
    ignore_case: bool = True
    unless_followed_by: tuple[str, ...] = ()
    unless_preceded_by: tuple[str, ...] = ()
    description: str = ""
    kind: ClassVar[str] = "abbreviation"

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check_bool(self.id, "ignore_case", self.ignore_case)
        if not isinstance(self.terms, tuple) or not self.terms:
            raise _fail(self.id, "terms must be a non-empty mapping of term to expansion")
        for pair in self.terms:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise _fail(self.id, f"terms must hold (term, expansion) pairs, got {pair!r}")
            term, expansion = pair
            if not isinstance(term, str) or not _TERM_RE.fullmatch(term):
                raise _fail(
                    self.id,
                    f"term {term!r} must be ASCII letters, digits or '.', starting with a letter",
                )
            _check_str(self.id, f"expansion of {term!r}", expansion)
            if (expansion.lower() if self.ignore_case else expansion) == (term.lower() if self.ignore_case else term):
                raise _fail(self.id, f"expansion of {term!r} is the term itself")
        dupes = _duplicates(tuple(term for term, _ in self.terms), fold_case=self.ignore_case)
        if dupes:
            raise _fail(self.id, f"duplicate term(s) {dupes}" + (" (case-insensitive)" if self.ignore_case else ""))
        _check_str_tuple(self.id, "unless_followed_by", self.unless_followed_by)
        _check_str_tuple(self.id, "unless_preceded_by", self.unless_preceded_by)
        _check_str(self.id, "description", self.description, allow_empty=True)

    def to_mapping(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "terms": dict(self.terms),
            "ignore_case": self.ignore_case,
            "unless_followed_by": list(self.unless_followed_by),
            "unless_preceded_by": list(self.unless_preceded_by),
        }


@dataclass(frozen=True)
class UnitRule:
    """Rewrite a number followed by any alias as `<number><separator><canonical>`: `5MG` → `5 mg`.

    The number is ASCII digits with an optional decimal part or thousands commas, not glued to a
    preceding letter, digit or '_' (`B12mg` stays); the alias must not run on into an ASCII letter,
    digit or '_' (`5 grams` stays). A unit word without a number (`毫克数`) is left alone.
    """

    id: str
    canonical: str
    aliases: tuple[str, ...]
    ignore_case: bool = True
    separator: str = " "
    description: str = ""
    kind: ClassVar[str] = "unit"

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check_str(self.id, "canonical", self.canonical)
        aliases = _check_str_tuple(self.id, "aliases", self.aliases)
        if not aliases:
            raise _fail(self.id, "aliases must list at least one unit spelling")
        _check_bool(self.id, "ignore_case", self.ignore_case)
        dupes = _duplicates(aliases, fold_case=self.ignore_case)
        if dupes:
            raise _fail(self.id, f"duplicate alias(es) {dupes}")
        _check_str(self.id, "separator", self.separator, allow_empty=True)
        if self.separator.strip():
            raise _fail(self.id, f"separator must be whitespace or empty, got {self.separator!r}")
        _check_str(self.id, "description", self.description, allow_empty=True)

    def to_mapping(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "canonical": self.canonical,
            "aliases": list(self.aliases),
            "ignore_case": self.ignore_case,
            "separator": self.separator,
        }


@dataclass(frozen=True)
class BuiltinRule:
    """One of the fixed transforms in text_ops: markup, control characters, NFKC, whitespace."""

    id: str
    kind: BuiltinKind
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if self.kind not in BUILTIN_KINDS:
            raise _fail(self.id, f"unknown built-in kind {self.kind!r}; built-ins: {list(BUILTIN_KINDS)}")
        _check_str(self.id, "description", self.description, allow_empty=True)

    def to_mapping(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "description": self.description}


Rule: TypeAlias = RegexRule | AbbreviationRule | UnitRule | BuiltinRule

_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required fields, optional fields) besides id, kind and description
    "regex": (frozenset({"pattern", "replacement"}), frozenset({"flags"})),
    "abbreviation": (
        frozenset({"terms"}),
        frozenset({"ignore_case", "unless_followed_by", "unless_preceded_by"}),
    ),
    "unit": (frozenset({"canonical", "aliases"}), frozenset({"ignore_case", "separator"})),
    **{kind: (frozenset(), frozenset()) for kind in BUILTIN_KINDS},
}


def _close_match(word: str, choices: frozenset[str] | tuple[str, ...]) -> str:
    guess = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {guess[0]!r}?)" if guess else ""


def rule_from_mapping(data: object, index: int) -> Rule:
    """Build one rule from its YAML mapping; every problem is a RulePackError naming the rule."""
    label = f"rules[{index}]"
    if not isinstance(data, Mapping):
        raise RulePackError(f"must be a mapping, got {type(data).__name__}", rule=label)
    if "id" not in data:
        raise RulePackError("missing required field 'id'", rule=label)
    try:
        rule_id = _check_id(data["id"])
    except RulePackError as exc:
        raise RulePackError(exc.reason, rule=label) from None
    kind = data.get("kind")
    if kind is None:
        raise _fail(rule_id, f"missing required field 'kind'; one of {list(RULE_KINDS)}")
    if not isinstance(kind, str) or kind not in RULE_KINDS:
        hint = _close_match(kind, RULE_KINDS) if isinstance(kind, str) else ""
        raise _fail(rule_id, f"unknown kind {kind!r}{hint}; one of {list(RULE_KINDS)}")
    required, optional = _FIELDS[kind]
    allowed = required | optional | {"id", "kind", "description"}
    for key in data:
        if key not in allowed:
            hint = _close_match(key, allowed) if isinstance(key, str) else ""
            raise _fail(rule_id, f"unknown field {key!r} for kind {kind!r}{hint}")
    missing = sorted(required - set(data))
    if missing:
        raise _fail(rule_id, f"missing required field(s) {missing} for kind {kind!r}")
    description = data.get("description", "")
    if kind == "regex":
        return RegexRule(
            id=rule_id,
            pattern=data["pattern"],
            replacement=data["replacement"],
            flags=_check_str_tuple(rule_id, "flags", data.get("flags", [])),
            description=description,
        )
    if kind == "abbreviation":
        terms = data["terms"]
        if not isinstance(terms, Mapping):
            raise _fail(rule_id, f"terms must be a mapping of term to expansion, got {type(terms).__name__}")
        return AbbreviationRule(
            id=rule_id,
            terms=tuple(terms.items()),
            ignore_case=data.get("ignore_case", True),
            unless_followed_by=_check_str_tuple(rule_id, "unless_followed_by", data.get("unless_followed_by", [])),
            unless_preceded_by=_check_str_tuple(rule_id, "unless_preceded_by", data.get("unless_preceded_by", [])),
            description=description,
        )
    if kind == "unit":
        return UnitRule(
            id=rule_id,
            canonical=data["canonical"],
            aliases=_check_str_tuple(rule_id, "aliases", data["aliases"]),
            ignore_case=data.get("ignore_case", True),
            separator=data.get("separator", " "),
            description=description,
        )
    return BuiltinRule(id=rule_id, kind=cast(BuiltinKind, kind), description=description)
