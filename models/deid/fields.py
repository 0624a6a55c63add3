"""De-identification of fields whose entity type the schema declares (a contact's phone, a customer's name).

Free text needs recognizers; a field declared as PII does not: its whole value is replaced by the configured
operator, so a name that NER would miss can never slip through.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.deid.entity_types import ENTITY_TYPES, IDENTIFIER_TYPES
from models.deid.operators import DEFAULT_OPERATOR, replacement, validate_operators
from models.deid.pseudonyms import pseudonym


class DeclaredFieldAnonymizer:
    def __init__(self, *, pseudonym_key: bytes, operators: Mapping[str, str]) -> None:
        # Checked as the engine checks them, so a bad entry fails at start rather than on the first record.
        validate_operators(operators, ENTITY_TYPES)
        self._key = pseudonym_key
        self._operators = dict(operators)

    def anonymize(self, value: str, entity_type: str) -> tuple[str, str | None]:
        """(replacement, subject pseudonym when the type identifies a person, else None)."""
        operator = self._operators.get(entity_type, DEFAULT_OPERATOR)
        replaced = replacement(operator, entity_type, self._key)(value)
        subject = pseudonym(value, entity_type, self._key) if entity_type in IDENTIFIER_TYPES else None
        return replaced, subject
