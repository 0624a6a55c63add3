"""Keyed pseudonyms: the same identifier in any spelling maps to the same stable token."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import unicodedata

from models.deid.entity_types import PATTERN_TYPES
from models.deid.pseudonym_format import DIGEST_CHARS
from models.deid.spelling import SEPARATORS, fold_identifier_text, spells_a_number
from models.deid.syntax.cn_mobile import mobile_digits

_COMPACT_TYPES = frozenset({"BANK_CARD", "CN_RESIDENT_ID", "CN_USCC"})
# Identifiers made of digits alone (and a check X), which people also write in numerals (一三八…).
_DIGIT_TYPES = frozenset({"CN_MOBILE", "BANK_CARD", "CN_RESIDENT_ID"})


def normalise(value: str, entity_type: str) -> str:
    """The canonical spelling of ``value`` for its entity type, so formatting never changes a pseudonym.

    Every spelling the detection view reads as one identifier normalises to one value: invisible characters
    go, any digit (and, in a value that spells a number, a numeral: 一三八, ①) becomes ASCII, separators go.
    """
    # NFKC folds full-width characters (１３８, ＠) into ASCII before anything else.
    text = unicodedata.normalize("NFKC", value).strip()
    if entity_type in PATTERN_TYPES:
        numerals = entity_type in _DIGIT_TYPES and spells_a_number(text)
        text = fold_identifier_text(text, numerals=numerals)
    if entity_type == "CN_MOBILE":
        return mobile_digits(text)
    if entity_type in _COMPACT_TYPES:
        return "".join(char for char in text if not char.isspace() and char not in SEPARATORS).upper()
    if entity_type == "EMAIL_ADDRESS":
        return text.lower()
    if entity_type == "IP_ADDRESS":
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            return text.lower()
    return " ".join(text.split())


def pseudonym(value: str, entity_type: str, key: bytes) -> str:
    """``<ENTITY_TYPE_hhhhhhhhhhhhhhhh>`` (64 bits): HMAC-SHA256 under ``key`` of the type and the normalised value."""
    # The type is part of the message, so equal digits of different kinds never share a pseudonym.
    message = f"{entity_type}\x1f{normalise(value, entity_type)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:DIGEST_CHARS]
    return f"<{entity_type}_{digest}>"
