"""Keyed pseudonyms: the same identifier in any spelling maps to the same stable token."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import unicodedata

from models.deid.pseudonym_format import DIGEST_CHARS
from models.deid.syntax.cn_mobile import mobile_digits

_DIGEST_CHARS = DIGEST_CHARS
_COMPACT_TYPES = frozenset({"BANK_CARD", "CN_RESIDENT_ID", "CN_USCC"})


def normalise(value: str, entity_type: str) -> str:
    """The canonical spelling of ``value`` for its entity type, so formatting never changes a pseudonym."""
    # NFKC folds full-width characters (１３８, ＠) into ASCII before anything else.
    text = unicodedata.normalize("NFKC", value).strip()
    if entity_type == "CN_MOBILE":
        return mobile_digits(text)
    if entity_type in _COMPACT_TYPES:
        return "".join(char for char in text if not char.isspace() and char != "-").upper()
    if entity_type == "EMAIL_ADDRESS":
        return text.lower()
    if entity_type == "IP_ADDRESS":
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            return text.lower()
    return " ".join(text.split())


def pseudonym(value: str, entity_type: str, key: bytes) -> str:
    """``<ENTITY_TYPE_hhhhhhhhhh>``: HMAC-SHA256 under ``key`` of the type and the normalised value."""
    # The type is part of the message, so equal digits of different kinds never share a pseudonym.
    message = f"{entity_type}\x1f{normalise(value, entity_type)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:_DIGEST_CHARS]
    return f"<{entity_type}_{digest}>"
