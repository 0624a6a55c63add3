"""Text cleaning: versioned YAML rule packs compiled into an immutable engine that cleans one record."""

from __future__ import annotations

from models.cleaning.bundled import load_bundled_packs
from models.cleaning.engine import CleanResult, RuleEngine
from models.cleaning.errors import RulePackError
from models.cleaning.identifiers import ProtectedIdentifier
from models.cleaning.pack import RulePack
from models.cleaning.rules import AbbreviationRule, BuiltinRule, RegexRule, Rule, UnitRule

__all__ = [
    "AbbreviationRule",
    "BuiltinRule",
    "CleanResult",
    "ProtectedIdentifier",
    "RegexRule",
    "Rule",
    "RuleEngine",
    "RulePack",
    "RulePackError",
    "UnitRule",
    "load_bundled_packs",
]
