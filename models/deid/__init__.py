"""De-identification: Presidio recognizers for Chinese/English PII, keyed pseudonyms, batch engine."""

from __future__ import annotations

from models.deid.cli_core import deidentify_jsonl
from models.deid.engine import (
    ENTITY_TYPES,
    IDENTIFIER_TYPES,
    Deidentifier,
    DeidResult,
    Entity,
    PresidioDeidentifier,
    pseudonym,
)
from models.deid.operators import OPERATORS

__all__ = [
    "ENTITY_TYPES",
    "IDENTIFIER_TYPES",
    "OPERATORS",
    "DeidResult",
    "Deidentifier",
    "Entity",
    "PresidioDeidentifier",
    "deidentify_jsonl",
    "pseudonym",
]
