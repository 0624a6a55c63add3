"""A versioned rule pack: the shared pack loader, plus the cleaning rule kinds, protected terms and identifiers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from models.cleaning.errors import RulePackError
from models.cleaning.identifiers import ProtectedIdentifier, protected_identifiers_from
from models.cleaning.rules import RULE_KINDS, Rule, parse_rule
from models.packs import Pack
from models.packs.checks import Fail, check_str_tuple, named_mapping


@dataclass(frozen=True)
class RulePack(Pack[Rule]):
    """A named, versioned, ordered set of rules plus the terms no rule may rewrite and the identifiers that
    de-identification's NER must leave verbatim.

    Engines apply packs by ascending `priority` (then name): base is 10, medical 50, others 100.
    """

    protected_terms: tuple[str, ...] = ()
    protected_identifiers: tuple[ProtectedIdentifier, ...] = ()

    error = RulePackError
    kind_field = "kind"
    rule_kinds = RULE_KINDS
    rule_types = get_args(Rule)
    extra_fields = ("protected_terms", "protected_identifiers")

    def __post_init__(self) -> None:
        super().__post_init__()
        fail = RulePackError.at(pack=self.name)
        check_str_tuple(self.protected_terms, "protected_terms", fail)
        if not isinstance(self.protected_identifiers, tuple):
            raise fail(f"protected_identifiers must be a tuple, got {type(self.protected_identifiers).__name__}")
        seen: set[str] = set()
        for index, identifier in enumerate(self.protected_identifiers):
            if not isinstance(identifier, ProtectedIdentifier):
                raise fail(
                    f"protected_identifiers[{index}] must be a ProtectedIdentifier, got {type(identifier).__name__}"
                )
            if identifier.id in seen:
                raise RulePackError(
                    "duplicate protected identifier id in this pack", pack=self.name, rule=identifier.id
                )
            seen.add(identifier.id)

    @classmethod
    def parse_rule(cls, rule_id: str, kind: str, data: Mapping[str, Any], fail: Fail) -> Rule:
        return parse_rule(rule_id, kind, data, fail)

    @classmethod
    def extras_from_mapping(cls, data: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
        label = named_mapping(data, "pack", fail)[1]
        identifiers = protected_identifiers_from(data.get("protected_identifiers"), label)
        terms = data.get("protected_terms")
        if terms is None:
            return {"protected_terms": (), "protected_identifiers": identifiers}
        if not isinstance(terms, list | tuple):
            raise fail(f"protected_terms must be a list, got {type(terms).__name__}")
        return {"protected_terms": tuple(terms), "protected_identifiers": identifiers}

    def extras_to_mapping(self) -> dict[str, Any]:
        mapping: dict[str, Any] = {"protected_terms": list(self.protected_terms)}
        # Left out when empty, so packs written before the field existed publish and compare as they did.
        if self.protected_identifiers:
            mapping["protected_identifiers"] = [identifier.to_mapping() for identifier in self.protected_identifiers]
        return mapping
