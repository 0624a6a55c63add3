"""Rebuild a collection in the current schema (terms for hybrid search) with vectors of the current embedder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from models.embedding.encoder import Embedder
from models.embedding.text import embed_texts
from models.store.milvus import MilvusStore
from models.store.rows import META_FIELDS
from models.store.types import ChunkRow
from schemas.errors import ConfigurationError, StoreUnavailableError

_BATCH = 256
_SUFFIX = "__rebuild"
_FIELDS = ["chunk_id", "record_id", "tenant", "chunk_index", "text", *META_FIELDS, "kafka_partition", "kafka_offset"]


def rebuild_collection(
    uri: str,
    collection: str,
    embedder: Embedder,
    *,
    token: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy every chunk of `collection` into a new collection of the current schema, re-embedding its text, then put
    the copy in the old one's place; returns the chunks copied.

    Chunk ids, text, subjects and lineage are kept; `model_version` becomes the embedder's. The old collection is
    dropped only once the copy holds as many chunks, so a crash before that leaves it untouched (the next run starts
    the copy afresh), and a crash between the drop and the rename is finished by the next run. Milvus Lite allows one
    process per data directory: stop the workers first.
    """
    staging = collection + _SUFFIX
    with MilvusStore(uri, collection=staging, dim=embedder.dim, token=token) as target:
        client = target.client
        if not client.has_collection(collection):
            if target.count_chunks() == 0:
                raise ConfigurationError(f"no collection {collection!r} at {uri!r} to rebuild")
            client.rename_collection(staging, collection)  # an earlier run dropped the old one and stopped there
            return target.count_chunks()
        client.load_collection(collection)  # MilvusStore loads only its own collection
        copied = 0
        if target.count_chunks():  # the partial copy of a run that stopped: start afresh
            client.drop_collection(staging)
            target.reopen()
        for batch in _batches(client, collection):
            target.upsert(_rows(batch, embedder))
            copied += len(batch)
            if progress is not None:
                progress(copied)
        client.flush(staging)
        total = int(client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"])
        if target.count_chunks() != total:
            raise StoreUnavailableError(
                f"rebuild of {collection!r} copied {target.count_chunks()} of {total} chunks; nothing was replaced"
            )
        client.drop_collection(collection)
        client.rename_collection(staging, collection)
    return copied


def _batches(client: Any, collection: str) -> Iterator[list[dict[str, Any]]]:
    iterator = client.query_iterator(collection, batch_size=_BATCH, filter="", output_fields=[*_FIELDS, "subjects"])
    try:
        while batch := iterator.next():
            yield batch
    finally:
        iterator.close()


def _rows(batch: list[dict[str, Any]], embedder: Embedder) -> list[ChunkRow]:
    vectors = embed_texts(embedder, [str(entity["text"]) for entity in batch])
    return [
        ChunkRow(
            chunk_id=str(entity["chunk_id"]),
            record_id=str(entity["record_id"]),
            tenant=str(entity["tenant"]),
            chunk_index=int(entity["chunk_index"]),
            text=str(entity["text"]),
            vector=vector.tolist(),
            source=str(entity["source"]),
            topic=str(entity["topic"]),
            partition=int(entity["kafka_partition"]),
            offset=int(entity["kafka_offset"]),
            event_id=str(entity["event_id"]),
            occurred_at=str(entity["occurred_at"]),
            rule_pack_version=str(entity["rule_pack_version"]),
            model_version=embedder.version,
            subjects=" ".join(entity.get("subjects") or []),
        )
        for entity, vector in zip(batch, vectors, strict=True)
    ]
