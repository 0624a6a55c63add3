"""Rule declarations as they appear in a pack: one frozen, validated value per rule kind."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias, cast, get_args

from models.cleaning.errors import RulePackError
from models.packs import RuleFields
from models.packs.checks import (
    Fail,
    check_bool,
    check_rule_id,
    check_str,
    check_strs,
    compile_pattern,
    compile_replacement,
)
from models.packs.linear_regex import PackPattern, Replacement

BuiltinKind = Literal["strip_markup", "strip_control", "collapse_whitespace", "unicode_nfkc"]
BUILTIN_KINDS: tuple[str, ...] = get_args(BuiltinKind)

# Terms start with a letter so the ASCII-letter boundary check around them means something.
_TERM_RE = re.compile(r"[A-Za-z][A-Za-z0-9.]*")


def _duplicates(items: tuple[str, ...], *, fold_case: bool) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for item in items:
        key = item.lower() if fold_case else item
        if key in seen:
            dupes.append(item)
        seen.add(key)
    return dupes


def _checked(rule_id: object, description: object) -> Fail:
    """Check what every rule has (id, description); the `Fail` that names the rule for its other checks."""
    fail = RulePackError.at(rule=check_rule_id(rule_id, RulePackError))
    check_str(description, "description", fail, allow_empty=True)
    return fail


@dataclass(frozen=True)
class RegexRule:
    """Replace every match of `pattern` (RE2 syntax, see models/packs/linear_regex.py) with `replacement`
    (a Python re template: \\1, \\g<name>)."""

    id: str
    pattern: str
    replacement: str
    flags: tuple[str, ...] = ()
    description: str = ""
    kind: ClassVar[str] = "regex"

    def __post_init__(self) -> None:
        fail = _checked(self.id, self.description)
        check_str(self.pattern, "pattern", fail)
        check_str(self.replacement, "replacement", fail, allow_empty=True)
        check_strs(self.flags, "flags", fail)
        # Parsing the template now makes a bad group reference fail when the pack loads, not per record.
        self.compile()

    def compile(self) -> tuple[PackPattern, Replacement]:
        """The compiled pattern and parsed replacement; raises RulePackError if either is invalid."""
        fail = RulePackError.at(rule=self.id)
        pattern = compile_pattern(self.pattern, self.flags, fail)
        return pattern, compile_replacement(self.replacement, pattern, fail)

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
        fail = _checked(self.id, self.description)
        check_bool(self.ignore_case, "ignore_case", fail)
        if not isinstance(self.terms, tuple) or not self.terms:
            raise fail("terms must be a non-empty mapping of term to expansion")
        for pair in self.terms:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise fail(f"terms must hold (term, expansion) pairs, got {pair!r}")
            term, expansion = pair
            if not isinstance(term, str) or not _TERM_RE.fullmatch(term):
                raise fail(f"term {term!r} must be ASCII letters, digits or '.', starting with a letter")
            check_str(expansion, f"expansion of {term!r}", fail)
            if (expansion.lower() if self.ignore_case else expansion) == (term.lower() if self.ignore_case else term):
                raise fail(f"expansion of {term!r} is the term itself")
        dupes = _duplicates(tuple(term for term, _ in self.terms), fold_case=self.ignore_case)
        if dupes:
            raise fail(f"duplicate term(s) {dupes}" + (" (case-insensitive)" if self.ignore_case else ""))
        check_strs(self.unless_followed_by, "unless_followed_by", fail)
        check_strs(self.unless_preceded_by, "unless_preceded_by", fail)

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
        fail = _checked(self.id, self.description)
        check_str(self.canonical, "canonical", fail)
        aliases = check_strs(self.aliases, "aliases", fail)
        if not aliases:
            raise fail("aliases must list at least one unit spelling")
        check_bool(self.ignore_case, "ignore_case", fail)
        dupes = _duplicates(aliases, fold_case=self.ignore_case)
        if dupes:
            raise fail(f"duplicate alias(es) {dupes}")
        check_str(self.separator, "separator", fail, allow_empty=True)
        if self.separator.strip():
            raise fail(f"separator must be whitespace or empty, got {self.separator!r}")

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
        fail = _checked(self.id, self.description)
        if self.kind not in BUILTIN_KINDS:
            raise fail(f"unknown built-in kind {self.kind!r}; built-ins: {list(BUILTIN_KINDS)}")

    def to_mapping(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "description": self.description}


Rule: TypeAlias = RegexRule | AbbreviationRule | UnitRule | BuiltinRule

# The fields each kind takes in a pack, besides id, kind and description.
RULE_KINDS: dict[str, RuleFields] = {
    "regex": RuleFields(required=("pattern", "replacement"), optional=("flags",)),
    "abbreviation": RuleFields(
        required=("terms",), optional=("ignore_case", "unless_followed_by", "unless_preceded_by")
    ),
    "unit": RuleFields(required=("aliases", "canonical"), optional=("ignore_case", "separator")),
    **{kind: RuleFields() for kind in BUILTIN_KINDS},
}


def parse_rule(rule_id: str, kind: str, data: Mapping[str, Any], fail: Fail) -> Rule:
    """Build one rule of a known kind from its mapping (fields already checked against RULE_KINDS)."""
    description = data.get("description", "")
    if kind == "regex":
        return RegexRule(
            id=rule_id,
            pattern=data["pattern"],
            replacement=data["replacement"],
            flags=check_strs(data.get("flags", []), "flags", fail),
            description=description,
        )
    if kind == "abbreviation":
        terms = data["terms"]
        if not isinstance(terms, Mapping):
            raise fail(f"terms must be a mapping of term to expansion, got {type(terms).__name__}")
        return AbbreviationRule(
            id=rule_id,
            terms=tuple(terms.items()),
            ignore_case=data.get("ignore_case", True),
            unless_followed_by=check_strs(data.get("unless_followed_by", []), "unless_followed_by", fail),
            unless_preceded_by=check_strs(data.get("unless_preceded_by", []), "unless_preceded_by", fail),
            description=description,
        )
    if kind == "unit":
        return UnitRule(
            id=rule_id,
            canonical=data["canonical"],
            aliases=check_strs(data["aliases"], "aliases", fail),
            ignore_case=data.get("ignore_case", True),
            separator=data.get("separator", " "),
            description=description,
        )
    return BuiltinRule(id=rule_id, kind=cast(BuiltinKind, kind), description=description)
