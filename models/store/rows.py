"""Rows as Milvus stores them: checking a ChunkRow into an entity, and reading lineage back out of one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from models.store.filters import chunk_key, quote_string, split_subjects, validate_tenant
from models.store.terms import terms_text
from models.store.types import (
    MAX_ID_BYTES,
    MAX_META_BYTES,
    MAX_SUBJECT_BYTES,
    MAX_SUBJECTS,
    MAX_TEXT_BYTES,
    ChunkRow,
    InvalidStoreValueError,
)

_LINEAGE_FIELDS = ("source", "topic", "partition", "offset", "event_id", "occurred_at")
_LINEAGE_VERSIONS = ("rule_pack_version", "model_version")
TERMS_FIELD = "terms"
SPARSE_FIELD = "sparse"
META_FIELDS = ("source", "topic", "event_id", "occurred_at", "rule_pack_version", "model_version")
# "partition" and "offset" mean other things to Milvus and to readers of the schema; stored under
# unambiguous names and mapped back in lineage dicts.
_STORED_NAME = {"partition": "kafka_partition", "offset": "kafka_offset"}
OUTPUT_FIELDS = [
    "record_id",
    "chunk_index",
    "text",
    "source",
    "topic",
    "kafka_partition",
    "kafka_offset",
    "event_id",
    "occurred_at",
    "rule_pack_version",
    "model_version",
]


def lineage_of(entity: dict[str, Any]) -> dict[str, Any]:
    """The lineage dict of a stored entity, with the public field names."""
    lineage = {name: entity.get(_STORED_NAME.get(name, name)) for name in _LINEAGE_FIELDS + _LINEAGE_VERSIONS}
    return lineage


def checked_vector(vector: Sequence[float], dim: int) -> list[float]:
    """The vector as floats, if it has dim finite components."""
    values = [float(v) for v in vector]
    if len(values) != dim:
        raise InvalidStoreValueError(f"vector has {len(values)} dimensions, the collection {dim}")
    if not all(math.isfinite(v) for v in values):
        raise InvalidStoreValueError("vector contains NaN or infinity")
    return values


def entity_of(row: ChunkRow, dim: int, *, lexical: bool = True) -> dict[str, Any]:
    """The Milvus entity for a row, after checking every value the collection or a later filter would refuse.

    With `lexical`, it carries the chunk's terms (models.store.terms), from which the collection computes BM25; a
    collection made before hybrid retrieval has no column for them.
    """
    validate_tenant(row.tenant)
    quote_string(row.record_id)  # ids end up in filters later; refuse what could not be filtered on
    check_bytes("record_id", row.record_id, MAX_ID_BYTES, allow_empty=False)
    if row.chunk_index < 0:
        raise InvalidStoreValueError(f"chunk_index must be >= 0, got {row.chunk_index}")
    # The key scheme is part of the contract: stale-chunk detection looks chunks up by it, and the
    # tenant inside the key keeps two tenants' records from overwriting each other.
    if row.chunk_id != chunk_key(row.tenant, row.record_id, row.chunk_index):
        raise InvalidStoreValueError(
            f"chunk_id of record {row.record_id[:40]!r} chunk {row.chunk_index} is not "
            "chunk_key(tenant, record_id, chunk_index)"
        )
    check_bytes("text", row.text, MAX_TEXT_BYTES, allow_empty=True)
    for name in META_FIELDS:
        check_bytes(name, getattr(row, name), MAX_META_BYTES, allow_empty=True)
    subjects = split_subjects(row.subjects)
    if len(subjects) > MAX_SUBJECTS:
        raise InvalidStoreValueError(f"{len(subjects)} subjects on one chunk, at most {MAX_SUBJECTS}")
    for subject in subjects:
        quote_string(subject)
        check_bytes("subject", subject, MAX_SUBJECT_BYTES, allow_empty=False)
    entity: dict[str, Any] = {
        "chunk_id": row.chunk_id,
        "vector": checked_vector(row.vector, dim),
        "tenant": row.tenant,
        "record_id": row.record_id,
        "chunk_index": int(row.chunk_index),
        "text": row.text,
        "source": row.source,
        "topic": row.topic,
        "kafka_partition": int(row.partition),
        "kafka_offset": int(row.offset),
        "event_id": row.event_id,
        "occurred_at": row.occurred_at,
        "rule_pack_version": row.rule_pack_version,
        "model_version": row.model_version,
        "subjects": subjects,
    }
    if lexical:
        # Derived from the stored text here, never taken from the caller, so what is indexed is what is stored.
        entity[TERMS_FIELD] = terms_text(row.text)
    return entity


def check_bytes(name: str, value: str, limit: int, *, allow_empty: bool) -> None:
    """Refuse a value that is not a string, is empty where it must not be, or exceeds limit UTF-8 bytes."""
    if not isinstance(value, str):
        raise InvalidStoreValueError(f"{name} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidStoreValueError(f"{name} must not be empty")
    size = len(value.encode("utf-8"))
    if size > limit:
        raise InvalidStoreValueError(f"{name} is {size} bytes in UTF-8, at most {limit}")
