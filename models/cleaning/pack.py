"""A versioned rule pack: the shared pack loader, plus the cleaning rule kinds and protected terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from models.cleaning.errors import RulePackError
from models.cleaning.rules import RULE_KINDS, Rule, parse_rule
from models.packs import Pack
from models.packs.checks import Fail, check_str_tuple


@dataclass(frozen=True)
class RulePack(Pack[Rule]):
    """A named, versioned, ordered set of rules plus the terms no rule may rewrite.

    Engines apply packs by ascending `priority` (then name): base is 10, medical 50, others 100.
    """

    protected_terms: tuple[str, ...] = ()

    error = RulePackError
    kind_field = "kind"
    rule_kinds = RULE_KINDS
    rule_types = get_args(Rule)
    extra_fields = ("protected_terms",)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_str_tuple(self.protected_terms, "protected_terms", RulePackError.at(pack=self.name))

    @classmethod
    def parse_rule(cls, rule_id: str, kind: str, data: Mapping[str, Any], fail: Fail) -> Rule:
        return parse_rule(rule_id, kind, data, fail)

    @classmethod
    def extras_from_mapping(cls, data: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
        terms = data.get("protected_terms")
        if terms is None:
            return {"protected_terms": ()}
        if not isinstance(terms, list | tuple):
            raise fail(f"protected_terms must be a list, got {type(terms).__name__}")
        return {"protected_terms": tuple(terms)}

    def extras_to_mapping(self) -> dict[str, Any]:
        return {"protected_terms": list(self.protected_terms)}
