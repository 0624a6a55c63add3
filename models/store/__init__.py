"""The vector store: record chunks with lineage in Milvus (Lite or server), always scoped to one tenant.

The face of the package; the parts live in `types` (rows, hits, the Protocol), `filters` (every value that
reaches a Milvus expression), `rows` (row checks and lineage), `milvus` (MilvusStore) and `search` (search
by text: the query prepared as chunks are, pseudonyms it names matched exactly).
"""

from __future__ import annotations

from models.store.filters import chunk_key, quote_string, split_subjects, tenant_filter, validate_tenant
from models.store.milvus import LITE_FLUSH_ROWS, MilvusStore
from models.store.rows import lineage_of
from models.store.search import rank_exact_first, search_text
from models.store.types import (
    MAX_LIST_LIMIT,
    MAX_SEARCH_K,
    ChunkRow,
    Hit,
    InvalidStoreValueError,
    StoredRecord,
    VectorStore,
)

__all__ = [
    "LITE_FLUSH_ROWS",
    "MAX_LIST_LIMIT",
    "MAX_SEARCH_K",
    "ChunkRow",
    "Hit",
    "InvalidStoreValueError",
    "MilvusStore",
    "StoredRecord",
    "VectorStore",
    "chunk_key",
    "lineage_of",
    "quote_string",
    "rank_exact_first",
    "search_text",
    "split_subjects",
    "tenant_filter",
    "validate_tenant",
]
