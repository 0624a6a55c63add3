"""The vector store: record chunks with lineage in Milvus (Lite or server), always scoped to one tenant.

The face of the package; the parts live in `types` (rows, hits, the Protocol), `filters` (every value that
reaches a Milvus expression), `rows` (row checks and lineage), `terms` (the lexical analyzer), `fusion` (the
dense and lexical candidates of a query into one ranking), `milvus` (MilvusStore) and `search` (search by text:
pseudonyms it names matched exactly, then meaning and terms fused).
"""

from __future__ import annotations

from models.store.filters import chunk_key, quote_string, split_subjects, tenant_filter, validate_tenant
from models.store.fusion import LEXICAL_WEIGHT, fuse
from models.store.milvus import LITE_FLUSH_ROWS, MilvusStore
from models.store.rows import lineage_of
from models.store.search import RETRIEVERS, Retriever, rank_exact_first, search_text
from models.store.terms import analyze
from models.store.types import (
    MAX_LIST_LIMIT,
    MAX_SEARCH_K,
    REBUILD_COMMAND,
    ChunkRow,
    Hit,
    InvalidStoreValueError,
    LexicalIndexMissingError,
    StoredRecord,
    VectorStore,
)

__all__ = [
    "LEXICAL_WEIGHT",
    "LITE_FLUSH_ROWS",
    "MAX_LIST_LIMIT",
    "MAX_SEARCH_K",
    "REBUILD_COMMAND",
    "RETRIEVERS",
    "ChunkRow",
    "Hit",
    "InvalidStoreValueError",
    "LexicalIndexMissingError",
    "MilvusStore",
    "Retriever",
    "StoredRecord",
    "VectorStore",
    "analyze",
    "chunk_key",
    "fuse",
    "lineage_of",
    "quote_string",
    "rank_exact_first",
    "search_text",
    "split_subjects",
    "tenant_filter",
    "validate_tenant",
]
