"""The ingest agents: Faust wiring around the two pure stages (de-identify, index), through the batch runner."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from agents.core import metrics
from agents.core.app import SendFn
from agents.core.dead_letters import StageFailure
from agents.core.forgotten import SUBJECT_FORGOTTEN
from agents.core.messages import SourcePosition
from agents.core.runner import BatchRunner, micro_batches
from agents.ingest.deidentify import DeidentifiedOutput, DeidentifyStage
from agents.ingest.index import IndexedOutput, IndexStage
from schemas.records import DeidentifiedRecord, IndexedAck
from topics.specs import RECORDS_DEIDENTIFIED, RECORDS_INDEXED, SOURCE_TOPICS


@dataclass
class IngestFlow:
    """What the ingest agents need; built once per worker and passed in (no globals)."""

    deidentify: DeidentifyStage | None
    index: IndexStage | None
    runner: BatchRunner
    send: SendFn
    batch_size: int
    batch_within_s: float

    def __post_init__(self) -> None:
        # One thread per stage, so the event loop keeps heart-beating while a batch is computed.
        self.deid_executor = ThreadPoolExecutor(1, thread_name_prefix="deidentify")
        self.index_executor = ThreadPoolExecutor(1, thread_name_prefix="index")

    async def suppress(
        self, stage: str, position: SourcePosition, record: DeidentifiedRecord, forgotten: Sequence[str]
    ) -> None:
        """A record naming a forgotten subject of its tenant is not indexed again: it becomes a dead letter that
        describes the input without carrying it (an erasure must not leave a new copy), and an audit event that
        names the record and the pseudonyms (so `sluice audit replay --subject` finds it)."""
        failure = StageFailure(position, SUBJECT_FORGOTTEN, "subject forgotten", stage, keep_original=False)
        await self.runner.dead_letter(failure)
        await self.runner.audit.emit(
            "record.subject_suppressed",
            stage=stage,
            subject_id=record.record_id,
            tenant=record.tenant,
            source_topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            details={
                "kind": record.kind,
                "subjects": sorted(record.subjects),
                "forgotten": list(forgotten),
                "action": "dead_lettered",
                "dead_letter_topic": self.runner.dead_letters.topic,
            },
        )

    async def publish_deidentified(self, out: DeidentifiedOutput) -> None:
        record = out.record
        if out.forgotten:
            await self.suppress("deidentify", out.position, record, out.forgotten)
            return
        key = record.record_id.encode()
        await self.send(RECORDS_DEIDENTIFIED.name, key, record.model_dump_json().encode())
        for entity_type, count in record.entity_counts.items():
            metrics.ENTITIES.labels(entity_type).inc(count)
        await self.runner.audit.emit(
            "record.deleted" if record.deleted else "record.deidentified",
            stage="deidentify",
            subject_id=record.record_id,
            tenant=record.tenant,
            source_topic=out.position.topic,
            partition=out.position.partition,
            offset=out.position.offset,
            entity_counts=record.entity_counts,
            versions={"rule_pack": record.rule_pack_version, "deid": record.deid_version},
            timings_ms=out.timings_ms,
            # Subject pseudonyms are keyed hashes, not PII: they let `sluice audit replay --subject` find a subject.
            details={"kind": record.kind, "subjects": sorted(record.subjects)},
        )

    async def publish_indexed(self, out: IndexedOutput) -> None:
        assert self.index is not None
        record = out.record
        if out.forgotten:
            await self.suppress("index", out.position, record, out.forgotten)
            return
        ack = IndexedAck(
            record_id=record.record_id,
            tenant=record.tenant,
            action="deleted" if record.deleted else "indexed",
            chunks=out.chunks,
            model_version=self.index.embedder.version,
            lineage=record.lineage,
            indexed_at=datetime.now(UTC),
        )
        await self.send(RECORDS_INDEXED.name, record.record_id.encode(), ack.model_dump_json().encode())
        await self.runner.audit.emit(
            f"record.{ack.action}",
            stage="index",
            subject_id=record.record_id,
            tenant=record.tenant,
            source_topic=out.position.topic,
            partition=out.position.partition,
            offset=out.position.offset,
            versions={
                "rule_pack": record.rule_pack_version,
                "deid": record.deid_version,
                "embedder": self.index.embedder.version,
            },
            timings_ms=out.timings_ms,
            details={"chunks": out.chunks},
        )

    def register(self, app: faust.App) -> dict[str, Any]:
        sources = app.topic(*(t.name for t in SOURCE_TOPICS), key_serializer="raw", value_serializer="raw")
        deidentified = app.topic(RECORDS_DEIDENTIFIED.name, key_serializer="raw", value_serializer="raw")
        agents: dict[str, Any] = {}

        if self.deidentify is not None:
            deidentify = self.deidentify

            @app.agent(sources, name="deidentify_records")
            async def deidentify_records(stream: faust.StreamT[bytes]) -> None:
                async for events in micro_batches(stream).take_events(self.batch_size, within=self.batch_within_s):
                    await self.runner.run(deidentify, self.deid_executor, events, self.publish_deidentified)

            agents["deidentify_records"] = deidentify_records
        if self.index is not None:
            index = self.index

            @app.agent(deidentified, name="index_records")
            async def index_records(stream: faust.StreamT[bytes]) -> None:
                async for events in micro_batches(stream).take_events(self.batch_size, within=self.batch_within_s):
                    await self.runner.run(index, self.index_executor, events, self.publish_indexed)

            agents["index_records"] = index_records
        return agents
