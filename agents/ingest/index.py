"""The index stage: de-identified records → chunks → vectors → idempotent upserts (deletes for tombstones)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from agents.core.decode import parse_json_bytes, validate
from agents.core.forgotten import ForgottenSubjects
from agents.core.messages import SourcePosition
from agents.core.stage import StageOutcome, unexpected_failure
from models.chunking import chunk_text
from models.embedding.encoder import Embedder
from models.embedding.text import embed_texts
from models.store import ChunkRow, VectorStore, chunk_key
from schemas.errors import RetriableError
from schemas.records import DeidentifiedRecord


@dataclass(frozen=True)
class IndexedOutput:
    """A record written to (or deleted from) the store; `forgotten` names the forgotten subjects of its tenant it
    names, in which case nothing was written and it is dead-lettered (the flow's `suppress`)."""

    position: SourcePosition
    record: DeidentifiedRecord
    chunks: int
    timings_ms: dict[str, float]
    forgotten: tuple[str, ...] = ()


class IndexStage:
    """De-identified records → chunks → vectors → idempotent upserts (or deletes for tombstones)."""

    name = "index"

    def __init__(
        self,
        *,
        embedder: Embedder,
        store: VectorStore,
        chunk_max_chars: int,
        chunk_overlap_chars: int,
        max_message_bytes: int,
        forgotten: ForgottenSubjects | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.chunk_max_chars = chunk_max_chars
        self.chunk_overlap_chars = chunk_overlap_chars
        self.max_message_bytes = max_message_bytes
        # Defence in depth: records de-identified before an erasure (or by a worker that had not yet read it)
        # still wait on records.deidentified.v1.
        self.forgotten = forgotten if forgotten is not None else ForgottenSubjects()

    def chunks_of(self, record: DeidentifiedRecord) -> list[str]:
        """The stored chunks of a record (an empty text still gets one chunk, so it can be listed)."""
        return chunk_text(record.text, max_chars=self.chunk_max_chars, overlap_chars=self.chunk_overlap_chars) or [""]

    def run(self, batch: Sequence[SourcePosition]) -> StageOutcome[IndexedOutput]:
        outcome: StageOutcome[IndexedOutput] = StageOutcome()
        to_embed: list[tuple[SourcePosition, DeidentifiedRecord, list[str]]] = []
        for position in batch:
            try:
                data = parse_json_bytes(position.value, max_bytes=self.max_message_bytes * 4, stage=self.name)
                record: DeidentifiedRecord = validate(DeidentifiedRecord, data, stage=self.name)
                if record.deleted:
                    started = time.perf_counter()
                    self.store.delete_record(record.tenant, record.record_id)
                    timing = {"delete": (time.perf_counter() - started) * 1000}
                    outcome.results.append(IndexedOutput(position, record, 0, timing))
                    continue
                forgotten = self.forgotten.among(record.tenant, record.subjects)
                if forgotten:
                    outcome.results.append(IndexedOutput(position, record, 0, {}, tuple(forgotten)))
                    continue
                chunks = self.chunks_of(record)
                to_embed.append((position, record, chunks))
            except RetriableError:
                raise
            except Exception as exc:
                outcome.failures.append(unexpected_failure(position, self.name, exc))
        if not to_embed:
            return outcome
        try:
            self._embed_and_upsert(to_embed, outcome)
        except RetriableError:
            raise
        except Exception:
            for item in to_embed:  # isolate the record that breaks the batch
                try:
                    self._embed_and_upsert([item], outcome)
                except RetriableError:
                    raise
                except Exception as exc:
                    outcome.failures.append(unexpected_failure(item[0], self.name, exc))
        return outcome

    def embed_rows(self, records: Sequence[tuple[DeidentifiedRecord, list[str]]]) -> list[ChunkRow]:
        """Vectors for every chunk of the records, as store rows (the embedding half of the stage)."""
        # Prepared as every query is (pseudonyms read as their type); the stored text keeps the pseudonyms.
        vectors = embed_texts(self.embedder, [chunk for _, chunks in records for chunk in chunks])
        rows: list[ChunkRow] = []
        for record, chunks in records:
            lineage = record.lineage
            for index, chunk in enumerate(chunks):
                rows.append(
                    ChunkRow(
                        chunk_id=chunk_key(record.tenant, record.record_id, index),
                        record_id=record.record_id,
                        tenant=record.tenant,
                        chunk_index=index,
                        text=chunk,
                        vector=vectors[len(rows)].tolist(),
                        source=lineage.source,
                        topic=lineage.topic,
                        partition=lineage.partition,
                        offset=lineage.offset,
                        event_id=lineage.event_id,
                        occurred_at=lineage.occurred_at.isoformat(),
                        rule_pack_version=record.rule_pack_version,
                        model_version=self.embedder.version,
                        subjects=" ".join(record.subjects),
                    )
                )
        return rows

    def _embed_and_upsert(
        self,
        items: Sequence[tuple[SourcePosition, DeidentifiedRecord, list[str]]],
        outcome: StageOutcome[IndexedOutput],
    ) -> None:
        started = time.perf_counter()
        rows = self.embed_rows([(record, chunks) for _, record, chunks in items])
        embed_ms = (time.perf_counter() - started) * 1000 / max(1, len(items))
        started = time.perf_counter()
        kept: list[tuple[SourcePosition, DeidentifiedRecord, list[str]]] = []
        suppressed: list[tuple[SourcePosition, DeidentifiedRecord, list[str]]] = []
        # Checked again with the registry held still until the upsert is done: a subject forgotten while this
        # batch was embedded is seen here, and one forgotten from now on waits, so its deletion follows the upsert.
        with self.forgotten.unchanged():
            to_upsert: list[ChunkRow] = []
            first = 0
            for position, record, chunks in items:
                forgotten = self.forgotten.among(record.tenant, record.subjects)
                if forgotten:
                    suppressed.append((position, record, forgotten))
                else:
                    kept.append((position, record, chunks))
                    to_upsert.extend(rows[first : first + len(chunks)])
                first += len(chunks)
            if to_upsert:
                self.store.upsert(to_upsert)
        upsert_ms = (time.perf_counter() - started) * 1000 / max(1, len(items))
        for position, record, chunks in kept:
            outcome.results.append(
                IndexedOutput(position, record, len(chunks), {"embed": embed_ms, "upsert": upsert_ms})
            )
        for position, record, forgotten in suppressed:
            outcome.results.append(IndexedOutput(position, record, 0, {"embed": embed_ms}, tuple(forgotten)))
