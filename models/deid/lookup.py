"""A data subject's pseudonym from one raw identifier, as a compliance request names it (ID number, phone, …)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from models.deid.pseudonyms import pseudonym
from models.deid.syntax import PATTERN_SYNTAX


@dataclass(frozen=True)
class IdentifierPseudonym:
    """The pseudonym records carry for an identifier, and whether Sluice's recognizers accept the value.

    ``recognised`` is None for types that have no pattern recognizer (names, places). A value they reject (a
    mistyped check digit) still gets its pseudonym, because a field the schema declares as PII is pseudonymised
    whatever it holds; but in free text it was never found, so the pseudonym may match nothing.
    """

    pseudonym: str
    recognised: bool | None


def recognised_as(value: str, entity_type: str) -> bool | None:
    """Whether the pattern/checksum check of ``entity_type`` accepts ``value`` whole, as ingest would find it.

    Only that type's regexes and checks run (models.deid.syntax, which the recognizer wraps), on the value read
    through the engine's detection views (every spelling ingest recognises): no Presidio, so a lookup does not
    load spaCy, transformers and torch.
    """
    syntax = PATTERN_SYNTAX.get(entity_type)
    if syntax is None:
        return None
    from models.deid.detection_view import detection_views

    text = unicodedata.normalize("NFKC", value).strip()
    return any(syntax.matches_whole(view.text) for view in detection_views(text))


def identifier_pseudonym(value: str, entity_type: str, key: bytes) -> IdentifierPseudonym:
    """The keyed pseudonym of ``value`` exactly as ingest stores it in a record's ``subjects``."""
    return IdentifierPseudonym(pseudonym(value, entity_type, key), recognised_as(value, entity_type))
