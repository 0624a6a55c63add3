"""Milvus filter expressions and the keys they compare: every value that reaches an expression goes through here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from models.deid.pseudonym_format import PSEUDONYM_PATTERN
from models.store.types import MAX_MENTIONS, MAX_SUBJECT_BYTES, InvalidStoreValueError
from schemas.records import TENANT_RULE, is_valid_tenant

# Records whose stale tail is removed in one delete expression; bounds the expression size.
_STALE_DELETE_GROUP = 64


def validate_tenant(tenant: str) -> str:
    """The tenant, if it is a plain identifier; anything that could change a filter's meaning is rejected.

    Tenants are stricter than other values because a tenant filter is what isolates customers: a value
    that needs escaping is a bug or an attack, never a real tenant.
    """
    if not isinstance(tenant, str):
        raise InvalidStoreValueError(f"tenant must be a string, got {type(tenant).__name__}")
    if not is_valid_tenant(tenant):
        raise InvalidStoreValueError(f"invalid tenant {tenant[:40]!r}: use {TENANT_RULE}")
    return tenant


def quote_string(value: str) -> str:
    """value as a Milvus double-quoted string literal that can only ever compare, never extend a filter."""
    if not isinstance(value, str):
        raise InvalidStoreValueError(f"filter value must be a string, got {type(value).__name__}")
    # Control characters have no business in ids, and some Milvus parsers end a literal at a newline.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidStoreValueError(f"filter value {value[:40]!r} contains control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tenant_filter(tenant: str) -> str:
    """The expression every read and delete starts with."""
    return f"tenant == {quote_string(validate_tenant(tenant))}"


def mentions_filter(pseudonyms: Sequence[str]) -> str:
    """An expression true for chunks whose text holds at least one of the pseudonyms.

    Only values in the fixed pseudonym format may enter, so no value can hold a quote, a backslash or a
    LIKE `%`. LIKE's `_` still matches any one character (`<CN_MOBILE_…>` also matches `<CNXMOBILE_…>`):
    the escape `\\_` works in Milvus Lite's arrow evaluator but matches nothing in its Python one, so it
    is not used, and callers keep only hits whose text holds a pseudonym exactly (MilvusStore.search does).
    """
    if isinstance(pseudonyms, str):
        raise InvalidStoreValueError("pseudonyms must be a sequence of pseudonyms, not a single string")
    if not pseudonyms:
        raise InvalidStoreValueError("a mentions filter needs at least one pseudonym")
    if len(pseudonyms) > MAX_MENTIONS:
        raise InvalidStoreValueError(f"{len(pseudonyms)} pseudonyms in one filter, at most {MAX_MENTIONS}")
    for value in pseudonyms:
        if not isinstance(value, str) or len(value) > MAX_SUBJECT_BYTES or not PSEUDONYM_PATTERN.fullmatch(value):
            raise InvalidStoreValueError(f"{str(value)[:40]!r} is not a pseudonym such as <PERSON_3c976b0a75e2d418>")
    clauses = " or ".join(f"text like {quote_string('%' + value + '%')}" for value in dict.fromkeys(pseudonyms))
    return f"({clauses})"


def chunk_key(tenant: str, record_id: str, chunk_index: int) -> str:
    """A deterministic chunk_id; the tenant is part of it so two tenants' records can never collide."""
    encoded = json.dumps([tenant, record_id, chunk_index], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def split_subjects(subjects: str) -> list[str]:
    """The pseudonyms in a ChunkRow.subjects string, de-duplicated, in first-seen order."""
    return list(dict.fromkeys(subjects.split()))


def stale_tail_filters(last_index: dict[tuple[str, str], int]) -> Iterable[str]:
    """Delete expressions for the chunks of each (tenant, record_id) beyond its last chunk_index."""
    by_tenant: dict[str, list[tuple[str, int]]] = {}
    for (tenant, record_id), index in last_index.items():
        by_tenant.setdefault(tenant, []).append((record_id, index))
    for tenant, records in by_tenant.items():
        for lo in range(0, len(records), _STALE_DELETE_GROUP):
            group = records[lo : lo + _STALE_DELETE_GROUP]
            clauses = " or ".join(
                f"(record_id == {quote_string(rid)} and chunk_index > {int(index)})" for rid, index in group
            )
            yield f"{tenant_filter(tenant)} and ({clauses})"
