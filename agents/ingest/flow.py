"""The ingest agents: Faust wiring around the pure stages, with one batch runner for both of them."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, TypeVar, cast

import faust
import structlog

from agents import metrics
from agents.audit import AuditEmitter
from agents.dead_letters import DeadLetterWriter, SourcePosition, StageFailure
from agents.errors import RetriableError
from agents.ingest.stages import (
    DeidentifiedOutput,
    DeidentifyStage,
    IndexedOutput,
    IndexStage,
    StageOutcome,
    unexpected_failure,
)
from agents.transactions import attribute_to, in_flight
from topics.specs import RECORDS_DEIDENTIFIED, RECORDS_INDEXED, SOURCE_TOPICS

log = structlog.get_logger(__name__)
R = TypeVar("R", bound="Positioned")

RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)
EXIT_RETRIABLE = 75  # EX_TEMPFAIL: the supervisor (sluice up, Kubernetes) restarts the worker


class Positioned(Protocol):
    @property
    def position(self) -> SourcePosition: ...


class Stage(Protocol[R]):
    name: str

    def run(self, batch: Sequence[SourcePosition]) -> StageOutcome[R]: ...


def micro_batches(stream: faust.StreamT[bytes]) -> faust.Stream[bytes]:
    """Faust's StreamT protocol lacks take_events, which every concrete Stream has."""
    return cast(faust.Stream[bytes], stream)


def batch_span(positions: Sequence[SourcePosition]) -> dict[str, Any]:
    """topic → partition → [first, last] offsets of a batch: enough to find every message it held."""
    span: dict[str, dict[int, list[int]]] = {}
    for p in positions:
        offsets = span.setdefault(p.topic, {}).setdefault(p.partition, [p.offset, p.offset])
        offsets[0], offsets[1] = min(offsets[0], p.offset), max(offsets[1], p.offset)
    return {"batch": len(positions), "offsets": {t: {str(k): v for k, v in parts.items()} for t, parts in span.items()}}


def _where(position: SourcePosition) -> tuple[str, int, int]:
    return position.topic, position.partition, position.offset


def position_of(event: faust.EventT[bytes]) -> SourcePosition:
    message = event.message
    return SourcePosition(message.topic, message.partition, message.offset, message.key, message.value)


def exit_for_restart(stage: str, exc: BaseException) -> NoReturn:
    """Leave without acknowledging the batch: Kafka redelivers it to the restarted worker, nothing is lost."""
    log.critical(
        "worker_exiting_for_restart",
        stage=stage,
        error_type=type(exc).__name__,
        reason="infrastructure unavailable after retries; batch left unacknowledged",
    )
    os._exit(EXIT_RETRIABLE)


@dataclass
class BatchRunner:
    """Runs a stage on a micro-batch in its own thread, dead-letters failures, and never lets an error out.

    Infrastructure errors (RetriableError) are retried with back-off; if they persist the worker exits without
    acknowledging the batch, so Kafka redelivers it to the restarted worker and nothing is lost.
    """

    dead_letters: DeadLetterWriter
    audit: AuditEmitter

    async def run(
        self,
        stage: Stage[R],
        executor: ThreadPoolExecutor,
        events: Sequence[faust.EventT[bytes]],
        on_result: Callable[[R], Awaitable[None]],
    ) -> None:
        in_flight.begin(events)
        positions = [position_of(event) for event in events]
        by_position = {_where(p): event for p, event in zip(positions, events, strict=True)}
        # One canonical log line per batch, with where it came from (structlog contextvars).
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(stage=stage.name, **batch_span(positions))
        started = time.perf_counter()
        outcome = await self._run_stage(stage, executor, positions)
        try:
            # Each output belongs to its own input: under exactly-once it commits with that input's offset.
            for result in outcome.results:
                attribute_to(by_position[_where(result.position)])
                await on_result(result)
            for failure in outcome.failures:
                attribute_to(by_position[_where(failure.position)])
                await self.dead_letter(failure)
        except Exception as exc:  # producing failed: the broker is in trouble, not the record
            self._exit_for_restart(stage.name, exc)
        for event in events:  # every input has its outcome: its offset may commit
            in_flight.finish(event)
        elapsed = time.perf_counter() - started
        metrics.BATCH_SECONDS.labels(stage.name).observe(elapsed)
        metrics.BATCH_SIZE.labels(stage.name).observe(len(events))
        metrics.RECORDS.labels(stage.name).inc(len(outcome.results))
        log.info(
            "batch_processed",
            records=len(outcome.results),
            dead_lettered=len(outcome.failures),
            duration_ms=round(elapsed * 1000, 1),
        )

    async def _run_stage(
        self, stage: Stage[R], executor: ThreadPoolExecutor, positions: list[SourcePosition]
    ) -> StageOutcome[R]:
        loop = asyncio.get_running_loop()
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None), start=1):
            try:
                return await loop.run_in_executor(executor, stage.run, positions)
            except RetriableError as exc:
                if delay is None:
                    self._exit_for_restart(stage.name, exc)
                log.warning(
                    "stage_retry",
                    stage=stage.name,
                    attempt=attempt,
                    error_type=type(exc).__name__,
                    delay_s=delay,
                )
                await asyncio.sleep(delay)
            except Exception as exc:  # a bug outside the per-record guards: dead-letter the whole batch
                log.exception("stage_failed", stage=stage.name, batch=len(positions))
                return StageOutcome(failures=[unexpected_failure(p, stage.name, exc) for p in positions])
        raise AssertionError("unreachable")  # pragma: no cover

    def _exit_for_restart(self, stage: str, exc: BaseException) -> NoReturn:
        exit_for_restart(stage, exc)

    async def dead_letter(self, failure: StageFailure) -> None:
        letter = await self.dead_letters.write(failure)
        position = failure.position
        log.warning(
            "dead_lettered",
            topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            stage=failure.stage,
            error_type=failure.error_type,
        )
        metrics.DEAD_LETTERS.labels(failure.stage, failure.error_type).inc()
        await self.audit.emit(
            "record.dead_lettered",
            stage=failure.stage,
            subject_id=f"{position.topic}:{position.partition}:{position.offset}",
            tenant=None,
            source_topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            details={
                "error_type": failure.error_type,
                "dead_letter_topic": self.dead_letters.topic,
                "original_sha256": letter.original_sha256,
            },
        )


@dataclass
class IngestFlow:
    """What the ingest agents need; built once per worker and passed in (no globals)."""

    deidentify: DeidentifyStage | None
    index: IndexStage | None
    runner: BatchRunner
    send: Callable[[str, bytes | None, bytes], Awaitable[None]]
    batch_size: int
    batch_within_s: float

    def __post_init__(self) -> None:
        # One thread per stage, so the event loop keeps heart-beating while a batch is computed.
        self.deid_executor = ThreadPoolExecutor(1, thread_name_prefix="deidentify")
        self.index_executor = ThreadPoolExecutor(1, thread_name_prefix="index")

    async def publish_deidentified(self, out: DeidentifiedOutput) -> None:
        record = out.record
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
        from datetime import UTC, datetime

        from schemas.records import IndexedAck

        assert self.index is not None
        record = out.record
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
