"""What the vector store holds and returns (rows, hits, records), its limits, and the Protocol agents use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from schemas.errors import PoisonRecordError, SluiceError

MAX_SEARCH_K = 100
MAX_LIST_LIMIT = 1000
# Field sizes; Milvus counts VARCHAR max_length in UTF-8 bytes, so rows are checked in bytes too.
# Column width of existing collections; the tenant rule itself (schemas.records) allows fewer characters.
TENANT_COLUMN_CHARS = 128
MAX_ID_BYTES = 512
MAX_TEXT_BYTES = 65_535
MAX_META_BYTES = 512
MAX_SUBJECTS = 1024
MAX_SUBJECT_BYTES = 128
# Pseudonyms one search may require a chunk to mention; bounds the filter expression.
MAX_MENTIONS = 16
# What an operator runs to bring a collection made before hybrid retrieval (or for another embedder) up to date.
REBUILD_COMMAND = "sluice index rebuild"


class InvalidStoreValueError(PoisonRecordError, ValueError):
    """A tenant, id or row value cannot be stored or used in a filter safely; the input is at fault."""

    stage = "store"


class LexicalIndexMissingError(SluiceError):
    """The collection was created before hybrid retrieval and has no lexical index; search by meaning still works."""


@dataclass(frozen=True)
class ChunkRow:
    """One embedded chunk of a de-identified record, with the lineage of the event it came from."""

    chunk_id: str  # chunk_key(tenant, record_id, chunk_index); MilvusStore rejects any other value
    record_id: str
    tenant: str
    chunk_index: int
    text: str
    vector: Sequence[float]
    source: str
    topic: str
    partition: int
    offset: int
    event_id: str
    occurred_at: str
    rule_pack_version: str
    model_version: str
    subjects: str  # space-separated subject pseudonyms, may be ""


@dataclass(frozen=True)
class Hit:
    """A record found by search, represented by its best-scoring chunk."""

    record_id: str
    chunk_id: str
    score: float
    text: str
    lineage: dict[str, Any]


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored: its chunks' text joined in order (overlaps not removed) and its lineage."""

    record_id: str
    text: str
    lineage: dict[str, Any]


@runtime_checkable
class VectorStore(Protocol):
    """Chunk storage and tenant-scoped similarity search; the seam between agents and Milvus."""

    def upsert(self, rows: Sequence[ChunkRow]) -> None:
        """Insert or replace rows by chunk_id. A record's chunks above the highest chunk_index given
        for it are deleted, so re-indexing a record with fewer chunks leaves nothing stale."""
        ...

    def delete_record(self, tenant: str, record_id: str) -> int:
        """Delete every chunk of one record; returns the number of chunks deleted."""
        ...

    def search(self, tenant: str, vector: Sequence[float], k: int, *, mentioning: Sequence[str] = ()) -> list[Hit]:
        """Up to min(k, MAX_SEARCH_K) distinct records of the tenant, best first.

        With `mentioning` (at most MAX_MENTIONS pseudonyms, each matching PSEUDONYM_PATTERN), only chunks
        whose text holds at least one of those pseudonyms exactly are candidates.
        """
        ...

    def search_lexical(self, tenant: str, query: str, k: int) -> list[Hit]:
        """Up to min(k, MAX_SEARCH_K) distinct records of the tenant sharing terms with the query, best first.

        Chunks and the query are turned into terms by models.store.terms.analyze (the store analyses chunk text at
        upsert); ranking is BM25, and a hit's score is its BM25 score (positive, larger is better). A query without
        terms finds nothing. Raises LexicalIndexMissingError where the store has no lexical index.
        """
        ...

    def list_records(self, tenant: str, limit: int, offset: int) -> tuple[int, list[StoredRecord]]:
        """(number of distinct records of the tenant, one page of them, newest occurred_at first)."""
        ...

    def count_chunks(self, tenant: str | None = None) -> int:
        """Chunks stored for a tenant, or in total."""
        ...

    def delete_subject(self, tenant: str, subject: str) -> int:
        """Delete every chunk of the tenant that mentions the subject pseudonym; returns chunks deleted."""
        ...

    def close(self) -> None:
        """Release the connection (and, for Milvus Lite, the data directory)."""
        ...
