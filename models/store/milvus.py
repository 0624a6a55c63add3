"""MilvusStore: the VectorStore on Milvus (a server by URI, or Milvus Lite in a local directory)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from models.store.filters import chunk_key, mentions_filter, quote_string, stale_tail_filters, tenant_filter
from models.store.rows import (
    META_FIELDS,
    OUTPUT_FIELDS,
    SPARSE_FIELD,
    TERMS_FIELD,
    checked_vector,
    entity_of,
    lineage_of,
)
from models.store.terms import MAX_TERMS_BYTES, analyze
from models.store.types import (
    MAX_ID_BYTES,
    MAX_LIST_LIMIT,
    MAX_META_BYTES,
    MAX_SEARCH_K,
    MAX_SUBJECT_BYTES,
    MAX_SUBJECTS,
    MAX_TEXT_BYTES,
    REBUILD_COMMAND,
    TENANT_COLUMN_CHARS,
    ChunkRow,
    Hit,
    InvalidStoreValueError,
    LexicalIndexMissingError,
    StoredRecord,
)
from schemas.errors import ConfigurationError, StoreUnavailableError

# Milvus Lite keeps new rows in a memtable until 128 MB, and every search re-reads the whole memtable in
# Python (~50 us a row: 300 ms per search at 5k rows). Flushing every so many rows turns them into an
# indexed segment; 1024 rows measured as the best trade-off between upsert and search cost.
LITE_FLUSH_ROWS = 1024
_ITERATOR_BATCH = 1000
_REMOTE_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")
_COLLECTION_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# Lexical search asks for this many chunks per record wanted and keeps each record's best: Milvus Lite's group_by
# on a BM25 field returns one arbitrary chunk per record (measured with milvus-lite 3.2.2), not the best one.
_LEXICAL_CHUNKS_PER_RECORD = 4

log = logging.getLogger(__name__)

_LITE_LOCK = threading.Lock()
# Milvus Lite runs one in-process server per data directory, shared by every client of that path in this
# process; it is stopped when the last MilvusStore using it closes, which releases the directory lock.
_LITE_USERS: dict[str, int] = {}


class MilvusStore:
    """VectorStore on Milvus: a server by URI, or Milvus Lite when the URI is a local path ending in .db.

    All calls are serialised by a lock: callers use it from executor threads, and Milvus Lite does not
    support concurrent writers. Milvus Lite allows one process per data directory.
    """

    def __init__(self, uri: str, *, collection: str, dim: int, token: str | None = None) -> None:
        from pymilvus import MilvusClient

        if not _COLLECTION_RE.fullmatch(collection):
            raise ConfigurationError(f"milvus_collection {collection!r} is not a valid collection name")
        if dim < 1:
            raise ConfigurationError(f"vector dim must be positive, got {dim}")
        self.collection = collection
        self.dim = dim
        self._lock = threading.Lock()
        self._closed = False
        self._written_since_flush = 0
        # False for a collection created before hybrid retrieval: it has no terms column, so rows are written
        # without terms and search_lexical refuses (see _ensure_collection).
        self.lexical = True
        # Set only once this store counts as a user of the Lite server, so a failed open never stops a
        # server that another store in this process is using.
        self._lite_path: str | None = None

        lite_path: str | None = None
        if uri.startswith(_REMOTE_SCHEMES):
            client_uri = uri
        else:
            path = Path(uri).expanduser().resolve()
            if path.suffix != ".db":
                raise ConfigurationError(f"milvus_uri {uri!r}: a Milvus Lite path must end in .db")
            path.parent.mkdir(parents=True, exist_ok=True)
            client_uri = lite_path = str(path)
        try:
            self._client = MilvusClient(uri=client_uri, token=token or "")
            if lite_path is not None:
                with _LITE_LOCK:
                    _LITE_USERS[lite_path] = _LITE_USERS.get(lite_path, 0) + 1
                self._lite_path = lite_path
            self._ensure_collection()
        except (ConfigurationError, StoreUnavailableError):
            self.close()
            raise
        except Exception as exc:
            self.close()
            hint = " (Milvus Lite allows one process per data directory)" if lite_path else ""
            raise StoreUnavailableError(f"cannot open Milvus at {uri!r}{hint}: {exc}") from exc

    # -- lifecycle --

    def _ensure_collection(self) -> None:
        from pymilvus import DataType, MilvusClient

        client = self._client
        if client.has_collection(self.collection):
            described = client.describe_collection(self.collection)
            stored_dim = next((int(f["params"]["dim"]) for f in described["fields"] if f["name"] == "vector"), None)
            if stored_dim != self.dim:
                raise ConfigurationError(
                    f"collection {self.collection!r} holds {stored_dim}-dim vectors but the embedder gives "
                    f"{self.dim}: re-embed it with `{REBUILD_COMMAND}` (workers stopped), or use another "
                    "milvus_collection"
                )
            self.lexical = any(f["name"] == SPARSE_FIELD for f in described["fields"])
            if not self.lexical:
                log.warning(
                    "collection %r has no lexical index (created before hybrid retrieval): searches use meaning "
                    "only, which misses most Chinese queries; rebuild it with `%s` (workers stopped)",
                    self.collection,
                    REBUILD_COMMAND,
                )
            client.load_collection(self.collection)
            if self._lite_path is not None:
                # Rows replayed from the write-ahead log sit in the memtable; see LITE_FLUSH_ROWS.
                client.flush(self.collection)
            return

        from pymilvus import Function, FunctionType

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("tenant", DataType.VARCHAR, max_length=TENANT_COLUMN_CHARS)
        schema.add_field("record_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("chunk_index", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        for name in META_FIELDS:
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_META_BYTES)
        schema.add_field("kafka_partition", DataType.INT64)
        schema.add_field("kafka_offset", DataType.INT64)
        schema.add_field(
            "subjects",
            DataType.ARRAY,
            element_type=DataType.VARCHAR,
            max_capacity=MAX_SUBJECTS,
            max_length=MAX_SUBJECT_BYTES,
        )
        # The terms arrive analysed (models.store.terms) and space-separated, each a run of word characters; the
        # collection only has to split them back and keep BM25 statistics. Milvus Lite's "standard" tokenizer is
        # `\w+` and lower-cases; a Milvus server's "standard" follows Unicode word breaks, which would cut Chinese
        # words into characters again, so a server gets "whitespace".
        tokenizer = "standard" if self._lite_path is not None else "whitespace"
        schema.add_field(
            TERMS_FIELD,
            DataType.VARCHAR,
            max_length=MAX_TERMS_BYTES,
            enable_analyzer=True,
            analyzer_params={"tokenizer": tokenizer},
        )
        schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="terms_bm25",
                function_type=FunctionType.BM25,
                input_field_names=[TERMS_FIELD],
                output_field_names=[SPARSE_FIELD],
            )
        )
        index = client.prepare_index_params()
        # Vectors are unit length, so COSINE ranks like IP while keeping scores in [-1, 1] if an
        # un-normalised vector ever slips in.
        index.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="COSINE")
        index.add_index(field_name=SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        index.add_index(field_name="tenant", index_type="INVERTED")
        index.add_index(field_name="record_id", index_type="INVERTED")
        # Strong consistency: a record is searchable as soon as upsert returns (read-your-writes), which
        # the indexed.v1 event promises downstream.
        client.create_collection(self.collection, schema=schema, consistency_level="Strong")
        # sync=False: the collection is empty, so the indexes are ready at once, and pymilvus would
        # otherwise poll each one with a 0.5 s sleep.
        client.create_index(self.collection, index, sync=False)
        client.load_collection(self.collection)

    @property
    def client(self) -> Any:
        """The pymilvus client, for maintenance beyond the VectorStore face (models.store.rebuild)."""
        return self._client

    def reopen(self) -> None:
        """Create the collection again if it was dropped (a rebuild starting afresh)."""
        with self._lock:
            self._ensure_collection()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            client = getattr(self, "_client", None)
            if client is not None:
                try:
                    client.close()
                except Exception:  # closing is best effort; the process may be shutting down
                    log.warning("milvus client close failed", exc_info=True)
            if self._lite_path is not None:
                _release_lite(self._lite_path)

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes --

    def upsert(self, rows: Sequence[ChunkRow]) -> None:
        """Insert or replace rows by chunk_id, then drop chunks beyond each record's highest chunk_index.

        chunk_id must be chunk_key(tenant, record_id, chunk_index). Send a record's chunks in one call,
        or in calls of increasing chunk_index: the last call for a record decides where it ends. Rows
        repeating a chunk_id in one call keep the last one.
        """
        if not rows:
            return
        by_id = {row.chunk_id: entity_of(row, self.dim, lexical=self.lexical) for row in rows}
        last_index: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row.tenant, row.record_id)
            last_index[key] = max(last_index.get(key, -1), row.chunk_index)
        # A record's chunks are numbered 0..n-1, so it has a stale tail exactly when the chunk after its
        # new last one exists. Probing those keys is a primary-key lookup (~4 ms for 64 records); a
        # filtered delete per batch would scan every row (~60 ms at 5k rows).
        probes = {chunk_key(t, rid, last + 1): (t, rid) for (t, rid), last in last_index.items()}
        with self._guard("upsert"):
            self._client.upsert(self.collection, list(by_id.values()))
            # After the upsert, not before: a crash in between leaves extra chunks (removed on redelivery),
            # never a record with missing ones.
            found = self._client.get(self.collection, ids=list(probes), output_fields=["chunk_id"])
            shrunk_records = [probes[str(hit["chunk_id"])] for hit in found]
            shrunk = {record: last_index[record] for record in shrunk_records}
            for expr in stale_tail_filters(shrunk):
                self._client.delete(self.collection, filter=expr)
            self._written_since_flush += len(by_id)
            if self._lite_path is not None and self._written_since_flush >= LITE_FLUSH_ROWS:
                self._client.flush(self.collection)
                self._written_since_flush = 0

    def delete_chunks_beyond(self, tenant: str, record_id: str, n_chunks: int) -> int:
        """Delete chunks of a record with chunk_index >= n_chunks; returns chunks deleted."""
        if n_chunks < 0:
            raise InvalidStoreValueError(f"n_chunks must be >= 0, got {n_chunks}")
        expr = f"{tenant_filter(tenant)} and record_id == {quote_string(record_id)} and chunk_index >= {int(n_chunks)}"
        with self._guard("delete_chunks_beyond"):
            return _deleted(self._client.delete(self.collection, filter=expr))

    def delete_record(self, tenant: str, record_id: str) -> int:
        expr = f"{tenant_filter(tenant)} and record_id == {quote_string(record_id)}"
        with self._guard("delete_record"):
            return _deleted(self._client.delete(self.collection, filter=expr))

    def delete_subject(self, tenant: str, subject: str) -> int:
        if not subject or subject != subject.strip() or len(subject.split()) != 1:
            raise InvalidStoreValueError(f"subject pseudonym {subject[:40]!r} must be one non-empty word")
        expr = f"{tenant_filter(tenant)} and array_contains(subjects, {quote_string(subject)})"
        with self._guard("delete_subject"):
            return _deleted(self._client.delete(self.collection, filter=expr))

    # -- reads --

    def search(self, tenant: str, vector: Sequence[float], k: int, *, mentioning: Sequence[str] = ()) -> list[Hit]:
        expr = tenant_filter(tenant)
        if mentioning:
            # Validated to the pseudonym format before any of it reaches the expression.
            expr = f"{expr} and {mentions_filter(mentioning)}"
        query = checked_vector(vector, self.dim)
        k = min(k, MAX_SEARCH_K)
        if k < 1:
            return []
        with self._guard("search"):
            result = self._client.search(
                self.collection,
                data=[query],
                anns_field="vector",
                limit=k,
                filter=expr,
                output_fields=OUTPUT_FIELDS,
                search_params={"metric_type": "COSINE"},
                # One hit per record, its best chunk: k distinct records even when one long record has
                # many chunks close to the query.
                group_by_field="record_id",
            )
        hits = _hits(result, mentioning=mentioning, score=float)
        hits.sort(key=lambda hit: -hit.score)
        return hits[:k]

    def search_lexical(self, tenant: str, query: str, k: int) -> list[Hit]:
        expr = tenant_filter(tenant)
        if not self.lexical:
            raise LexicalIndexMissingError(
                f"collection {self.collection!r} was created before hybrid retrieval and has no lexical index; "
                f"rebuild it with `{REBUILD_COMMAND}` (workers stopped)"
            )
        k = min(k, MAX_SEARCH_K)
        terms = analyze(query)
        if k < 1 or not terms:
            return []
        with self._guard("search_lexical"):
            result = self._client.search(
                self.collection,
                data=[" ".join(terms)],
                anns_field=SPARSE_FIELD,
                limit=k * _LEXICAL_CHUNKS_PER_RECORD,
                filter=expr,
                output_fields=OUTPUT_FIELDS,
                search_params={"metric_type": "BM25"},
            )
        # Milvus Lite reports a BM25 match as the negated score (a distance), a Milvus server as the score itself.
        return _hits(result, mentioning=(), score=lambda distance: abs(float(distance)))[:k]

    def list_records(self, tenant: str, limit: int, offset: int) -> tuple[int, list[StoredRecord]]:
        expr = tenant_filter(tenant)
        if limit < 0 or offset < 0:
            raise InvalidStoreValueError(f"limit and offset must be >= 0, got limit={limit} offset={offset}")
        limit = min(limit, MAX_LIST_LIMIT)
        with self._guard("list_records"):
            # Distinct records are counted over all chunks rather than chunk 0 only, so a record that
            # somehow lost its first chunk is still listed and deletable.
            newest: dict[str, str] = {}
            for row in self._iterate(expr, ["record_id", "occurred_at"]):
                rid, occurred = str(row["record_id"]), str(row["occurred_at"])
                if rid not in newest or occurred > newest[rid]:
                    newest[rid] = occurred
            # Two stable sorts: record_id ascending breaks ties within the newest-first order.
            ordered = sorted(newest)
            ordered.sort(key=newest.__getitem__, reverse=True)
            page = ordered[offset : offset + limit]
            chunks: dict[str, list[dict[str, Any]]] = {rid: [] for rid in page}
            if page:
                ids = "[" + ", ".join(quote_string(rid) for rid in page) + "]"
                for row in self._iterate(f"{expr} and record_id in {ids}", OUTPUT_FIELDS):
                    chunks[str(row["record_id"])].append(row)
        records = []
        for rid in page:
            parts = sorted(chunks[rid], key=lambda row: int(row["chunk_index"]))
            if not parts:  # deleted between the two reads; the total is already taken, so keep the slot
                continue
            text = "".join(str(part["text"]) for part in parts)
            records.append(StoredRecord(record_id=rid, text=text, lineage=lineage_of(parts[0])))
        return len(ordered), records

    def count_chunks(self, tenant: str | None = None) -> int:
        expr = "" if tenant is None else tenant_filter(tenant)
        with self._guard("count_chunks"):
            result = self._client.query(self.collection, filter=expr, output_fields=["count(*)"])
        return int(result[0]["count(*)"]) if result else 0

    # -- helpers --

    def _iterate(self, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        # An iterator rather than one query: Milvus caps offset + limit of a single query at 16384.
        iterator = self._client.query_iterator(
            self.collection, batch_size=_ITERATOR_BATCH, filter=expr, output_fields=fields
        )
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        """Hold the store lock for one call and turn Milvus failures into StoreUnavailableError."""
        from pymilvus.exceptions import MilvusException

        with self._lock:
            if self._closed:
                raise StoreUnavailableError(f"{operation} on a closed MilvusStore")
            try:
                yield
            except (MilvusException, ConnectionError, TimeoutError) as exc:
                # Input is validated before it reaches Milvus, so what Milvus still refuses is treated as
                # the store being unwell: the retriable family, not a dead letter.
                raise StoreUnavailableError(
                    f"Milvus {operation} failed on collection {self.collection!r}: {exc}"
                ) from exc


def _hits(result: Any, *, mentioning: Sequence[str], score: Callable[[Any], float]) -> list[Hit]:
    """One Hit per record from a Milvus search result, in the result's order (best chunk first)."""
    hits: list[Hit] = []
    seen: set[str] = set()
    for item in result[0] if result else []:
        entity = item["entity"]
        record_id = str(entity["record_id"])
        if record_id in seen:  # group_by already ensures this for dense search; lexical search relies on it
            continue
        text = str(entity["text"])
        if mentioning and not any(pseudonym in text for pseudonym in mentioning):
            continue  # matched only through LIKE's one-character `_` wildcard (see mentions_filter)
        seen.add(record_id)
        hits.append(
            Hit(
                record_id=record_id,
                chunk_id=str(item.get("chunk_id", item.get("id"))),
                score=score(item["distance"]),
                text=text,
                lineage=lineage_of(entity),
            )
        )
    return hits


def _deleted(result: Any) -> int:
    # Milvus Lite returns the deleted primary keys; a Milvus server returns {"delete_count": n}, and omits
    # the key when it is zero.
    if isinstance(result, dict):
        return int(result.get("delete_count", 0))
    if isinstance(result, list):
        return len(result)
    return 0


def _release_lite(path: str) -> None:
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 0) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
    try:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)
    except Exception:  # best effort: at worst the directory lock is released at process exit
        log.warning("milvus lite release failed for %s", path, exc_info=True)
