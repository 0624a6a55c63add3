"""A data subject's pseudonym from one raw identifier, as a compliance request names it (ID number, phone, …)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from models.deid.entity_types import PATTERN_TYPES
from models.deid.pseudonyms import pseudonym


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
    """Whether the pattern/checksum recognizer of ``entity_type`` finds ``value`` whole, as ingest would."""
    if entity_type not in PATTERN_TYPES:
        return None
    from models.deid.detection_view import detection_views
    from models.deid.recognizers import pattern_recognizers

    # The recognizers read the value through the detection views, as ingest reads free text.
    text = unicodedata.normalize("NFKC", value).strip()
    recognizers = [recognizer for recognizer in pattern_recognizers() if entity_type in recognizer.supported_entities]
    for view in detection_views(text):
        for recognizer in recognizers:
            # Pattern recognizers need no NLP artifacts.
            for hit in recognizer.analyze(view.text, [entity_type], None):  # type: ignore[arg-type]
                if hit.entity_type == entity_type and view.original_span(hit.start, hit.end) == (0, len(text)):
                    return True
    return False


def identifier_pseudonym(value: str, entity_type: str, key: bytes) -> IdentifierPseudonym:
    """The keyed pseudonym of ``value`` exactly as ingest stores it in a record's ``subjects``."""
    return IdentifierPseudonym(pseudonym(value, entity_type, key), recognised_as(value, entity_type))
