"""A versioned rule pack: validated from YAML (bundled or from a topic) and written back as a mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from models.cleaning.errors import RulePackError
from models.cleaning.rules import AbbreviationRule, BuiltinRule, RegexRule, Rule, UnitRule, rule_from_mapping
from models.packs import check_pack_header, check_pack_mapping, load_yaml

# Names and versions are joined into the engine version ("base@1.0.0+medical@1.0.0"), so neither may
# contain '@' or '+'.
_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_PACK_FIELDS = frozenset({"name", "version", "description", "priority", "protected_terms", "rules"})
DEFAULT_PRIORITY = 100


@dataclass(frozen=True)
class RulePack:
    """A named, versioned, ordered set of rules plus the terms no rule may rewrite.

    Engines apply packs by ascending `priority` (then name): base is 10, medical 50, others 100.
    """

    name: str
    version: str
    description: str
    rules: tuple[Rule, ...]
    protected_terms: tuple[str, ...]
    priority: int = DEFAULT_PRIORITY

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise RulePackError(
                f"name must be lower-case letters, digits, '_' or '-', starting with a letter, got {self.name!r}"
            )
        label = self.name

        def fail(reason: str) -> RulePackError:
            return RulePackError(reason, pack=label)

        check_pack_header(self.version, self.description, self.priority, self.rules, fail)
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if not isinstance(rule, RegexRule | AbbreviationRule | UnitRule | BuiltinRule):
                raise fail(f"rules[{index}] must be a rule, got {type(rule).__name__}")
            if rule.id in seen:
                raise RulePackError("duplicate rule id in this pack", pack=label, rule=rule.id)
            seen.add(rule.id)
        if not isinstance(self.protected_terms, tuple):
            raise fail(f"protected_terms must be a tuple, got {type(self.protected_terms).__name__}")
        for index, term in enumerate(self.protected_terms):
            if not isinstance(term, str) or not term.strip():
                raise fail(f"protected_terms[{index}] must be a non-empty string, got {term!r}")
        if len(set(self.protected_terms)) != len(self.protected_terms):
            raise fail("protected_terms has duplicates")

    @property
    def label(self) -> str:
        """`name@version`, the form used in the engine version."""
        return f"{self.name}@{self.version}"

    @classmethod
    def from_yaml(cls, text: str) -> RulePack:
        """Parse and validate a pack from YAML text; any problem is a RulePackError."""
        data = load_yaml(text, RulePackError)
        return cls.from_mapping(data)  # type: ignore[arg-type]  # from_mapping rejects non-mappings itself

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RulePack:
        """Validate a pack from its mapping form (parsed YAML or JSON); any problem is a RulePackError."""
        label, data, raw_rules = check_pack_mapping(data, what="rule pack", allowed=_PACK_FIELDS, error=RulePackError)
        raw_terms = data.get("protected_terms", [])
        if raw_terms is None:
            raw_terms = []
        if not isinstance(raw_terms, list | tuple):
            raise RulePackError(f"protected_terms must be a list, got {type(raw_terms).__name__}", pack=label)
        try:
            rules = tuple(rule_from_mapping(raw, index) for index, raw in enumerate(raw_rules))
            return cls(
                name=data["name"],
                version=data["version"],
                description=data.get("description", ""),
                rules=rules,
                protected_terms=tuple(raw_terms),
                priority=data.get("priority", DEFAULT_PRIORITY),
            )
        except RulePackError as exc:
            raise exc.in_pack(label) from None

    def to_mapping(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-ready) that from_mapping turns back into an equal pack."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "priority": self.priority,
            "protected_terms": list(self.protected_terms),
            "rules": [rule.to_mapping() for rule in self.rules],
        }

    def to_yaml(self) -> str:
        """The pack as YAML text (what is published to the rule-pack topic)."""
        return yaml.safe_dump(self.to_mapping(), allow_unicode=True, sort_keys=False)
