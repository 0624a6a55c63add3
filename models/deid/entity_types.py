"""The entity types de-identification knows, with no heavy imports (the CLI builds its choices from them)."""

from __future__ import annotations

# Entities that identify one data subject by themselves: their pseudonyms become the record's subjects.
IDENTIFIER_TYPES = frozenset({"CN_RESIDENT_ID", "CN_MOBILE", "EMAIL_ADDRESS", "BANK_CARD", "CN_USCC"})
PATTERN_TYPES = ("CN_RESIDENT_ID", "CN_MOBILE", "BANK_CARD", "CN_USCC", "EMAIL_ADDRESS", "IP_ADDRESS")
NER_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
# Types the engine derives from NER's LOCATION (models/deid/places.py): a street-level address, or a public place
# name (country, region, large city). A field the schema declares as an address is ADDRESS too.
DERIVED_TYPES = ("ADDRESS", "PLACE")
ENTITY_TYPES = PATTERN_TYPES + NER_TYPES + DERIVED_TYPES
