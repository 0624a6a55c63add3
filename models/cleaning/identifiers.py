"""A rule pack's protected identifiers: RE2 patterns for identifier-shaped tokens that NER must leave verbatim."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.cleaning.errors import RulePackError
from models.packs.checks import (
    check_fields,
    check_rule_id,
    check_str,
    check_strs,
    compile_pattern,
)
from models.packs.linear_regex import PackPattern

_FIELDS = ("id", "pattern", "flags", "description")
_REQUIRED = ("id", "pattern")


@dataclass(frozen=True)
class ProtectedIdentifier:
    """Tokens matching `pattern` (RE2, like a regex rule's) are cut out of NER detections, e.g. a tenant's case
    numbers `CASE-[0-9]{6}`. A match counts only if it is one token holding a digit (models/deid/protected.py), and
    it never shields structured PII: a phone or a checksum-valid ID inside it is replaced all the same."""

    id: str
    pattern: str
    flags: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        fail = RulePackError.at(rule=check_rule_id(self.id, RulePackError))
        check_str(self.description, "description", fail, allow_empty=True)
        check_str(self.pattern, "pattern", fail)
        check_strs(self.flags, "flags", fail)
        # Compiled now, so a pattern RE2 cannot run fails when the pack loads, not on the first record.
        self.compile()

    def compile(self) -> PackPattern:
        """The pattern on RE2; raises RulePackError if it is invalid, too long or matches the empty string."""
        return compile_pattern(self.pattern, self.flags, RulePackError.at(rule=self.id))

    def to_mapping(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "pattern": self.pattern, "flags": list(self.flags)}


def protected_identifiers_from(value: object, pack: str) -> tuple[ProtectedIdentifier, ...]:
    """The `protected_identifiers` field of pack `pack`: a list of {id, pattern, flags?, description?}.

    Every error names the pack and the entry (its id, or its index while it has no valid id)."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise RulePackError(f"protected_identifiers must be a list, got {type(value).__name__}", pack=pack)
    found: list[ProtectedIdentifier] = []
    for index, entry in enumerate(value):
        at_index = RulePackError.at(pack=pack, rule=f"protected_identifiers[{index}]")
        if not isinstance(entry, Mapping):
            raise at_index(f"must be a mapping, got {type(entry).__name__}")
        check_fields(entry, allowed=_FIELDS, required=_REQUIRED, fail=at_index)
        identifier_id = check_rule_id(entry["id"], at_index)
        try:
            found.append(
                ProtectedIdentifier(
                    id=identifier_id,
                    pattern=entry["pattern"],
                    flags=check_strs(entry.get("flags", []), "flags", RulePackError.at(rule=identifier_id)),
                    description=entry.get("description", ""),
                )
            )
        except RulePackError as exc:
            raise exc.in_pack(pack) from None
    return tuple(found)
