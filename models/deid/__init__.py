"""De-identification: Presidio recognizers for Chinese/English PII, keyed pseudonyms, batch engine.

Names are imported lazily (PEP 562): the index worker needs only the pseudonym format, and importing the
engine would pull in Presidio, spaCy and, through thinc, torch — about a gigabyte of memory it never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.deid.cli_core import deidentify_jsonl
    from models.deid.engine import Deidentifier, DeidResult, Entity, PresidioDeidentifier
    from models.deid.entity_types import ENTITY_TYPES, IDENTIFIER_TYPES
    from models.deid.operators import OPERATORS
    from models.deid.pseudonyms import pseudonym

_WHERE = {
    "deidentify_jsonl": "models.deid.cli_core",
    "ENTITY_TYPES": "models.deid.entity_types",
    "IDENTIFIER_TYPES": "models.deid.entity_types",
    "Deidentifier": "models.deid.engine",
    "DeidResult": "models.deid.engine",
    "Entity": "models.deid.engine",
    "PresidioDeidentifier": "models.deid.engine",
    "pseudonym": "models.deid.pseudonyms",
    "OPERATORS": "models.deid.operators",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'models.deid' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
