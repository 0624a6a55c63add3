"""De-identification of fields whose entity type the schema declares (a contact's phone, a customer's name).

Free text needs recognizers; a field declared as PII does not: its whole value is replaced by the configured
operator, so a name that NER would miss can never slip through.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.deid.engine import IDENTIFIER_TYPES
from models.deid.operators import DEFAULT_OPERATOR, mask_value
from models.deid.pseudonyms import pseudonym


class DeclaredFieldAnonymizer:
    def __init__(self, *, pseudonym_key: bytes, operators: Mapping[str, str]) -> None:
        self._key = pseudonym_key
        self._operators = dict(operators)

    def anonymize(self, value: str, entity_type: str) -> tuple[str, str | None]:
        """(replacement, subject pseudonym when the type identifies a person, else None)."""
        operator = self._operators.get(entity_type, DEFAULT_OPERATOR)
        if operator == "replace":
            replacement = f"<{entity_type}>"
        elif operator == "mask":
            replacement = mask_value(value)
        elif operator == "redact":
            replacement = ""
        else:
            replacement = pseudonym(value, entity_type, self._key)
        subject = pseudonym(value, entity_type, self._key) if entity_type in IDENTIFIER_TYPES else None
        return replacement, subject
