"""The ingest stages as pure batch functions: results and failures side by side, no Kafka, no exceptions out."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from agents.dead_letters import SourcePosition, StageFailure
from agents.errors import OversizedPayloadError, PoisonRecordError, RetriableError
from agents.ingest.decode import decode_event, parse_json_bytes, validate
from agents.ingest.normalise import UnifiedRecord, normalise
from models.chunking import chunk_text
from models.cleaning import RuleEngine
from models.deid.pseudonym_format import generalise_pseudonyms
from models.embedding.encoder import Embedder
from models.store import ChunkRow, VectorStore, chunk_key
from schemas.records import DeidentifiedRecord

if TYPE_CHECKING:
    from models.deid import Deidentifier

T = TypeVar("T")
# Largest record Sluice writes: under Kafka's default 1 MiB message limit, with room for the envelope.
MAX_OUTPUT_BYTES = 900_000


@dataclass
class StageOutcome(Generic[T]):
    results: list[T] = field(default_factory=list)
    failures: list[StageFailure] = field(default_factory=list)


def unexpected_failure(position: SourcePosition, stage: str, exc: BaseException) -> StageFailure:
    """A bug or library failure on one record. The message names the type and code location, never the
    exception text, which libraries often build from the input (and so from PII)."""
    if isinstance(exc, PoisonRecordError):
        return StageFailure(position, type(exc).__name__, str(exc), exc.stage if exc.stage != "unknown" else stage)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return StageFailure(position, type(exc).__name__, f"unexpected {type(exc).__name__} in {stage}{where}", stage)


E = TypeVar("E")


class EngineRef(Generic[E]):
    """The current engine (rule packs, policies); a hot reload swaps the reference, so a batch or a request
    always sees one consistent engine."""

    def __init__(self, engine: E) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    @property
    def engine(self) -> E:
        return self._engine

    def update(self, change: Callable[[E], E]) -> E:
        with self._lock:
            self._engine = change(self._engine)
            return self._engine


RuleEngineRef = EngineRef[RuleEngine]


class FieldAnonymizer(Protocol):
    """Applies the configured operator to a value whose entity type the schema already declares."""

    def anonymize(self, value: str, entity_type: str) -> tuple[str, str | None]:
        """(replacement text, subject pseudonym or None when the type is not an identifier)."""
        ...


@dataclass(frozen=True)
class DeidentifiedOutput:
    position: SourcePosition
    record: DeidentifiedRecord
    timings_ms: dict[str, float]


class DeidentifyStage:
    """decode → normalise → clean → de-identify, for a micro-batch of raw source messages."""

    name = "deidentify"

    def __init__(
        self,
        *,
        rules: RuleEngineRef,
        deidentifier: Deidentifier,
        fields: FieldAnonymizer,
        max_message_bytes: int,
        source_of_topic: Callable[[str], str],
    ) -> None:
        self.rules = rules
        self.deidentifier = deidentifier
        self.fields = fields
        self.max_message_bytes = max_message_bytes
        self.source_of_topic = source_of_topic

    def run(self, batch: Sequence[SourcePosition]) -> StageOutcome[DeidentifiedOutput]:
        outcome: StageOutcome[DeidentifiedOutput] = StageOutcome()
        engine = self.rules.engine
        prepared: list[tuple[SourcePosition, UnifiedRecord, str, float]] = []
        for position in batch:
            try:
                source = self.source_of_topic(position.topic)
                record = normalise(source, decode_event(source, position, max_bytes=self.max_message_bytes), position)
                started = time.perf_counter()
                cleaned = engine.clean(record.free_text).text if not record.deleted else ""
                prepared.append((position, record, cleaned, (time.perf_counter() - started) * 1000))
            except Exception as exc:  # one bad record never fails the batch
                outcome.failures.append(unexpected_failure(position, "normalise", exc))
        if not prepared:
            return outcome
        texts = [cleaned for _, _, cleaned, _ in prepared]
        started = time.perf_counter()
        try:
            results = self.deidentifier.deidentify_batch(texts)
            per_record_ms = (time.perf_counter() - started) * 1000 / len(texts)
            pairs = [(item, result, per_record_ms) for item, result in zip(prepared, results, strict=True)]
        except RetriableError:
            raise
        except Exception:
            # Find the poison record: run one by one so the rest of the batch still goes through.
            pairs = []
            for item in prepared:
                one_started = time.perf_counter()
                try:
                    result = self.deidentifier.deidentify_batch([item[2]])[0]
                except Exception as exc:
                    outcome.failures.append(unexpected_failure(item[0], self.name, exc))
                    continue
                pairs.append((item, result, (time.perf_counter() - one_started) * 1000))
        now = datetime.now(UTC)
        for (position, record, _, clean_ms), result, deid_ms in pairs:
            try:
                text, counts, subjects = result.text, dict(result.entity_counts), set(result.subjects)
                declared_lines = []
                for declared in record.declared_pii:
                    replacement, subject = self.fields.anonymize(declared.value, declared.entity_type)
                    declared_lines.append(f"{declared.label}: {replacement}")
                    counts[declared.entity_type] = counts.get(declared.entity_type, 0) + 1
                    if subject:
                        subjects.add(subject)
                    # The record names its own subject: where the free text repeats that value and the
                    # recognizers missed it (a rare name, an unusual spelling), it is replaced all the same.
                    if len(declared.value) >= 2 and declared.value in text:
                        text = text.replace(declared.value, replacement)
                text = "\n".join(part for part in (record.header, text, *declared_lines) if part)
                out = DeidentifiedRecord(
                    record_id=record.record_id,
                    tenant=record.tenant,
                    kind=record.kind,
                    deleted=record.deleted,
                    text=text,
                    entity_counts=counts,
                    subjects=sorted(subjects),
                    rule_pack_version=engine.version,
                    deid_version=self.deidentifier.version,
                    lineage=record.lineage,
                    processed_at=now,
                )
                size = len(out.model_dump_json())
                if size > MAX_OUTPUT_BYTES:
                    # Pseudonyms are longer than what they replace: a dense input can outgrow what the broker
                    # accepts. Caught here it is this record's dead letter, not a worker that fails every retry.
                    raise OversizedPayloadError(
                        f"de-identified record is {size} bytes, above the {MAX_OUTPUT_BYTES}-byte output limit",
                        stage=self.name,
                    )
                outcome.results.append(DeidentifiedOutput(position, out, {"clean": clean_ms, "deidentify": deid_ms}))
            except Exception as exc:
                outcome.failures.append(unexpected_failure(position, self.name, exc))
        return outcome


@dataclass(frozen=True)
class IndexedOutput:
    position: SourcePosition
    record: DeidentifiedRecord
    chunks: int
    timings_ms: dict[str, float]


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
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.chunk_max_chars = chunk_max_chars
        self.chunk_overlap_chars = chunk_overlap_chars
        self.max_message_bytes = max_message_bytes

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
        # The model reads pseudonyms as their type (<PERSON>); the stored text keeps the pseudonyms.
        vectors = self.embedder.embed([generalise_pseudonyms(chunk) for _, chunks in records for chunk in chunks])
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
        self.store.upsert(rows)
        upsert_ms = (time.perf_counter() - started) * 1000 / max(1, len(items))
        for position, record, chunks in items:
            outcome.results.append(
                IndexedOutput(position, record, len(chunks), {"embed": embed_ms, "upsert": upsert_ms})
            )
